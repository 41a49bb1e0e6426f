import assert from "node:assert/strict";
import { tallyJunit } from "./run.ts";

Deno.test("tallyJunit counts passed, failed and skipped test cases and names the failed ones", () => {
  const xml = `<testsuites><testsuite name="a">
<testcase name="one" time="0.1"></testcase>
<testcase name="two &quot;q&quot;" classname="./node/x_test.ts" time="0.1"><failure message="boom&#10;more">x</failure></testcase>
<testcase name="three" time="0"><skipped/></testcase>
<testcase name="four"/>
</testsuite></testsuites>`;
  assert.deepEqual(tallyJunit(xml), {
    passed: 2,
    failed: 1,
    skipped: 1,
    failures: ['node/x_test.ts > two "q": boom'],
  });
});
