/**
 * Holds an image open through lib/image, as a running qemu-system of ours does, until stdin closes:
 * `hold_image.ts FILE ro|rw`. Prints `held` once the image (and so its locks) is open, which is
 * the tests' readiness signal. Run with the qemu-img task's permissions, FFI included.
 */
import { openImage } from "../../../lib/image/registry.ts";

const [file, mode] = Deno.args;
const image = openImage(file, { readOnly: mode !== "rw" });
console.log("held");
await new Response(Deno.stdin.readable).arrayBuffer();
image.close();
