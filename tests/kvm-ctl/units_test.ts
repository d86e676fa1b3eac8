/** In-process checks of the table-driven pieces: parameter parsing, option strings, getopt, fnmatch. */
import assert from "node:assert/strict";
import { ErrnoError } from "../../lib/errors.ts";
import { kstrtobool, parseParamValue, splitOptions } from "../../lib/virt/modules/params.ts";
import { fnmatch, parseConfigText, readConfig } from "../../lib/virt/modules/config.ts";
import { findModule, findParam, MODULES, transitiveDepends } from "../../lib/virt/modules/table.ts";
import { getoptLong, longTable } from "../../cli/kvm-ctl/getopt.ts";
import { optionsFromArray } from "../../cli/kvm-ctl/kmod_util.ts";

const param = (m: string, p: string) => findParam(findModule(m)!, p)!;
const errno = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e instanceof ErrnoError ? e.code : "other";
  }
  return "none";
};

Deno.test("kernel parameter parsing by type", () => {
  assert.deepEqual(["y", "Y1", "1", "on", "ON"].map(kstrtobool), [true, true, true, true, true]);
  assert.deepEqual(["n", "0", "off", "Of"].map(kstrtobool), [false, false, false, false]);
  assert.deepEqual(["", "2", "o", "true"].map(kstrtobool), [undefined, undefined, undefined, undefined]);
  const nested = param("kvm_intel", "nested");
  assert.equal(parseParamValue(nested, undefined), "Y");
  assert.equal(parseParamValue(nested, "0"), "N");
  assert.equal(errno(() => parseParamValue(nested, "maybe")), "EINVAL");
  const uint = param("kvm", "halt_poll_ns");
  assert.equal(parseParamValue(uint, "0x10"), "16");
  assert.equal(parseParamValue(uint, "010"), "8");
  assert.equal(parseParamValue(uint, "+5\n"), "5");
  assert.equal(parseParamValue(uint, "4294967295"), "4294967295");
  assert.equal(errno(() => parseParamValue(uint, "4294967296")), "ERANGE");
  assert.equal(errno(() => parseParamValue(uint, "-1")), "EINVAL");
  assert.equal(errno(() => parseParamValue(uint, undefined)), "EINVAL");
  assert.equal(errno(() => parseParamValue(uint, "08")), "EINVAL");
  const int = param("kvm_amd", "nested");
  assert.equal(parseParamValue(int, "-2147483648"), "-2147483648");
  assert.equal(errno(() => parseParamValue(int, "2147483648")), "ERANGE");
  const ushort = param("kvm_amd", "pause_filter_count");
  assert.equal(errno(() => parseParamValue(ushort, "65536")), "ERANGE");
  const bint = param("kvm", "pi_inject_timer");
  assert.equal(parseParamValue(bint, "y"), "1");
  const nx = param("kvm", "nx_huge_pages");
  assert.deepEqual(["off", "force", "never", "auto", "Y"].map((v) => parseParamValue(nx, v)), [
    "N",
    "Y",
    "never",
    "N",
    "Y",
  ]);
  const l1d = param("kvm_intel", "vmentry_l1d_flush");
  assert.equal(parseParamValue(l1d, "always"), "not required");
  assert.equal(errno(() => parseParamValue(l1d, "sometimes")), "EINVAL");
});

Deno.test("option strings split like the kernel's next_arg, and build like kmod's options_from_array", () => {
  assert.deepEqual(splitOptions(' nested=0  ept  a-b="x y" "c=d e"'), [
    { name: "nested", value: "0" },
    { name: "ept", value: undefined },
    { name: "a_b", value: "x y" },
    { name: "c", value: "d e" },
  ]);
  assert.equal(optionsFromArray(["a=1", "b=x y", "c", "d='q r'"]), `a=1 b="x y" c d='q r'`);
});

Deno.test("getopt_long: clusters, attached arguments, permutation, prefixes, --", () => {
  const long = longTable([["remove", "r"], ["remove-holders", "rh"], ["wait", "w", true], ["verbose", "v"]]);
  const r = getoptLong("modprobe", ["kvm", "-rvw5", "x=1", "--wait=7", "--verb", "--", "-v"], "rvw:", long);
  assert.deepEqual(r, {
    ok: true,
    options: [{ key: "r" }, { key: "v" }, { key: "w", arg: "5" }, { key: "w", arg: "7" }, { key: "v" }],
    operands: ["kvm", "x=1", "-v"],
  });
  assert.deepEqual(getoptLong("modprobe", ["--remo"], "", long), {
    ok: false,
    message: "modprobe: option '--remo' is ambiguous; possibilities: '--remove' '--remove-holders'\n",
  });
  assert.deepEqual(getoptLong("m", ["--verbose=1"], "", long), {
    ok: false,
    message: "m: option '--verbose' doesn't allow an argument\n",
  });
  assert.deepEqual(getoptLong("m", ["--wait"], "", long), {
    ok: false,
    message: "m: option '--wait' requires an argument\n",
  });
});

Deno.test("modprobe.d parsing and fnmatch", () => {
  assert.ok(
    fnmatch("cpu:type:x86,ven*fam*mod*:feature:*0085*", "cpu:type:x86,ven0000fam0006mod003F:feature:,0085,"),
  );
  assert.ok(fnmatch("kvm[_-]?ntel", "kvm_intel"));
  assert.ok(!fnmatch("kvm", "kvm_intel"));
  const cfg = readConfig("/nonexistent", []);
  parseConfigText(
    cfg,
    "softdep kvm pre: a post: b c\nsoftdep kvm junk\nweakdep kvm-intel x\ninstall kvm\n",
    "f.conf",
  );
  assert.deepEqual(cfg.softdeps, [{ module: "kvm", pre: ["a"], post: ["b", "c"] }]);
  assert.deepEqual(cfg.errors.map((e) => e.replace(/^.*kmod_config_parse: /, "")), [
    "f.conf line 2: ignoring bad line starting with 'softdep'",
    "f.conf line 3: ignoring bad line starting with 'weakdep'",
    "f.conf line 4: ignoring bad line starting with 'install'",
  ]);
});

Deno.test("module table: dependencies resolve, parameter defaults parse as their own type", () => {
  assert.deepEqual(transitiveDepends(findModule("kvm-intel")!).map((m) => m.name), ["kvm", "irqbypass"]);
  for (const m of MODULES) {
    for (const p of m.params) {
      // bint -1 (pi_inject_timer) is "decide at load", a value only the kernel itself stores.
      if (p.choices || p.default === "-1") continue;
      assert.equal(parseParamValue(p, p.default), p.default, `${m.name}.${p.name}`);
    }
  }
});
