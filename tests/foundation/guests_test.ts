/** The committed guest binaries are what nasm makes of their sources today. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { NASM, PROJECT, skipReason } from "../support/tools.ts";

Deno.test({
  name: `committed guest binaries match their sources${skipReason(NASM, "nasm")}`,
  ignore: !NASM,
  fn() {
    const out = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        "--allow-run",
        join(PROJECT, "scripts/build_guests.ts"),
        "--check",
      ],
    }).outputSync();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  },
});
