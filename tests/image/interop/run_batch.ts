/**
 * Runs a batch of our qemu-img command lines in one process, with the qemu-img task's
 * permissions: reads `{ cwd, cases }` as JSON on stdin, runs each command line through main() in
 * cwd with its output captured, and prints the results as JSON. One process per batch keeps the
 * side-by-side tests fast without changing the test process's working directory.
 */
import { main } from "../../../cli/qemu-img.ts";
import { captureOutput } from "../../../cli/qemu-img/report.ts";

const input = JSON.parse(new TextDecoder().decode(await new Response(Deno.stdin.readable).arrayBuffer()));
Deno.chdir(input.cwd);
const results = [];
for (const args of input.cases as string[][]) {
  const { result, stdout, stderr } = await captureOutput(() => main(args));
  results.push({ code: result, stdout, stderr });
}
console.log(JSON.stringify(results));
