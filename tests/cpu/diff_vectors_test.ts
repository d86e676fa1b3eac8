/**
 * Keeps the differential CPU vectors honest: the committed guests are what scripts/gen_vectors.ts
 * generates from its fixed seed, the goldens are complete, and the generator's replay of the
 * guest's operand draws (`--explain`) agrees with what QEMU actually computed.
 * (Running the guests on our CPU against the goldens is tests/cpu/guests_test.ts's job.)
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeRecord, DIFF_DIR, groups, source, vectors } from "../../scripts/gen_vectors.ts";
import { PROJECT } from "../support/tools.ts";

const GOLDEN = join(PROJECT, "tests", "golden", "diff");
const all = groups();

/** Every record of a golden, in vector order, each with the form it belongs to. */
function records(name: string): string[] {
  const out: string[] = [];
  for (const line of Deno.readTextFileSync(join(GOLDEN, `${name}.txt`)).split("\n")) {
    const m = /^([0-9a-f]{5}):(.*)$/.exec(line);
    if (!m) continue;
    assert.equal(parseInt(m[1], 16), out.length, `line numbering of ${name} at ${m[1]}`);
    out.push(...m[2].split(" "));
  }
  return out;
}

Deno.test("gen_vectors regenerates the committed guest sources byte for byte", () => {
  for (const g of all) {
    const committed = Deno.readTextFileSync(join(DIFF_DIR, `${g.name}.asm`));
    assert.ok(
      committed === source(g),
      `tests/guests/diff/${g.name}.asm is stale: run scripts/gen_vectors.ts`,
    );
  }
});

Deno.test("every group has at least 100,000 vectors and a complete golden", () => {
  for (const g of all) {
    const total = g.forms.reduce((n, f) => n + f.count!, 0);
    assert.ok(total >= 100_000, `${g.name}: ${total} vectors`);
    assert.equal(Deno.readTextFileSync(join(GOLDEN, `${g.name}.exit`)).trim(), "1", `${g.name} exit status`);
    const text = Deno.readTextFileSync(join(GOLDEN, `${g.name}.txt`));
    assert.ok(
      text.endsWith(`end ${g.name} ${total.toString(16).padStart(8, "0")}\n`),
      `${g.name} golden ends`,
    );
    assert.equal(records(g.name).length, total);
    assert.ok(text.length < 1_600_000, `${g.name} golden is ${text.length} bytes`);
  }
});

/** Arithmetic flags of an N-bit ADD, as the SDM defines every one of them. */
function addFlags(a: number, b: number, bits: number): string[] {
  const mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  const sign = 2 ** (bits - 1);
  const x = (a & mask) >>> 0, y = (b & mask) >>> 0;
  const sum = x + y;
  const r = sum % (mask + 1);
  const flags: string[] = [];
  if (sum > mask) flags.push("CF");
  if ((x >= sign) === (y >= sign) && (r >= sign) !== (x >= sign)) flags.push("OF");
  let ones = 0;
  for (let v = r & 0xff; v; v >>= 1) ones += v & 1;
  if (ones % 2 === 0) flags.push("PF");
  if (((x ^ y ^ r) & 0x10) !== 0) flags.push("AF");
  if (r === 0) flags.push("ZF");
  if (r >= sign) flags.push("SF");
  return flags;
}

Deno.test("the replayed operands of the ADD vectors give QEMU's recorded results", () => {
  const recs = records("alu");
  let checked = 0;
  for (const input of vectors(all.find((g) => g.name === "alu")!)) {
    if (!input.form.name.startsWith("add")) continue;
    const bits = parseInt(input.form.name.slice(3));
    const mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
    const want = ((input.eax & ~mask) | ((input.eax + input.ebx) & mask)) >>> 0;
    const got = decodeRecord(recs[input.index]);
    assert.equal(got.eax, want, `alu vector ${input.index} (${input.form.name}) EAX`);
    assert.deepEqual(got.flags, addFlags(input.eax, input.ebx, bits), `alu vector ${input.index} flags`);
    assert.equal(got.status, ".");
    checked++;
  }
  assert.ok(checked > 5000);
});

Deno.test("divide by zero and quotient overflow are recorded as #DE at the faulting instruction", () => {
  const recs = records("muldiv");
  let zero = 0, overflow = 0;
  for (const input of vectors(all.find((g) => g.name === "muldiv")!)) {
    if (input.form.name !== "div32") continue;
    const got = decodeRecord(recs[input.index]);
    const dividend = (BigInt(input.edx) << 32n) | BigInt(input.eax);
    const faults = input.ebx === 0 || dividend / BigInt(input.ebx) > 0xffffffffn;
    assert.equal(got.status, faults ? "#" : ".", `muldiv vector ${input.index}`);
    if (faults) {
      assert.equal(got.eax, input.eax, "EAX left as it was");
      assert.equal(got.edx, input.edx, "EDX left as it was");
      if (input.ebx === 0) zero++;
      else overflow++;
    } else {
      assert.equal(BigInt(got.eax), dividend / BigInt(input.ebx));
      assert.equal(BigInt(got.edx!), dividend % BigInt(input.ebx));
    }
  }
  assert.ok(zero > 10 && overflow > 10, `${zero} divide-by-zero and ${overflow} overflow vectors`);
});
