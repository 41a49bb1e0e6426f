import assert from "node:assert/strict";
import { tallyJunit } from "./run.ts";

Deno.test("tallyJunit counts passed, failed and skipped test cases", () => {
  const xml = `<testsuites><testsuite name="a">
<testcase name="one" time="0.1"></testcase>
<testcase name="two" time="0.1"><failure message="boom">x</failure></testcase>
<testcase name="three" time="0"><skipped/></testcase>
<testcase name="four"/>
</testsuite></testsuites>`;
  assert.deepEqual(tallyJunit(xml), { passed: 2, failed: 1, skipped: 1 });
});
