/** Unit tests of qemu-img's command-line layer: getopt_long, sizes, QDict JSON order, formatting helpers. */
import assert from "node:assert/strict";
import { getoptLong } from "../../../cli/qemu-img/getopt.ts";
import { UsageError } from "../../../cli/qemu-img/report.ts";
import { cvtnum, sizeToStr, strtosz } from "../../../cli/qemu-img/size.ts";
import { qdictBucket, qdictKeys, toQemuJson } from "../../../cli/qemu-img/qjson.ts";
import { parseCreateOpts, splitOpts, toCreateOptions, wantsHelp } from "../../../cli/qemu-img/qemu_opts.ts";
import { renderMap } from "../../../cli/qemu-img/commands/map.ts";
import { checkHuman } from "../../../cli/qemu-img/commands/check.ts";
import { SNAPSHOT_HEADER } from "../../../cli/qemu-img/image_info.ts";

const LONG = [
  { name: "help", arg: "none" as const, key: "h" },
  { name: "output", arg: "required" as const, key: "output" },
  { name: "backing-chain", arg: "none" as const, key: "backing-chain" },
];

Deno.test("getopt: clustered short options, attached and separate arguments", () => {
  const r = getoptLong(
    ["create", "-qf", "qcow2", "-ocluster_size=4k", "x", "-o", "compat=0.10", "1G"],
    ":F:b:f:ho:qu",
    [],
  );
  assert.deepEqual(r.options, [
    { key: "q" },
    { key: "f", value: "qcow2" },
    { key: "o", value: "cluster_size=4k" },
    { key: "o", value: "compat=0.10" },
  ]);
  assert.deepEqual(r.operands, ["x", "1G"]);
});

Deno.test("getopt: long options with = or a separate word, unique prefixes, --", () => {
  const r = getoptLong(
    ["info", "--outp=json", "a", "--output", "human", "--backing", "--", "-x"],
    ":f:hU",
    LONG,
  );
  assert.deepEqual(r.options, [{ key: "output", value: "json" }, { key: "output", value: "human" }, {
    key: "backing-chain",
  }]);
  assert.deepEqual(r.operands, ["a", "-x"]);
});

Deno.test("getopt: errors quote argv[optind-1] as glibc leaves it", () => {
  const msg = (argv: string[]) => {
    try {
      getoptLong(argv, ":f:hU", LONG);
    } catch (e) {
      assert.ok(e instanceof UsageError);
      return e.message;
    }
    return "";
  };
  assert.equal(msg(["info", "-Uz", "a"]), "unrecognized option '-Uz'");
  assert.equal(msg(["info", "-zU", "a"]), "unrecognized option 'info'");
  assert.equal(msg(["info", "-f"]), "missing argument for option '-f'");
  assert.equal(msg(["info", "--output"]), "missing argument for option '--output'");
  assert.equal(msg(["info", "--backing-chain=3"]), "unrecognized option '--backing-chain=3'");
  assert.equal(msg(["info", "--foo"]), "unrecognized option '--foo'");
});

Deno.test("getopt: '+' stops at the first operand (the top-level command word)", () => {
  const r = getoptLong(["qemu-img", "-T", "x", "info", "-f", "raw"], "+:hVT:", []);
  assert.deepEqual(r.operands, ["info", "-f", "raw"]);
});

Deno.test("strtosz: suffixes, fractions, hex and rounding as qemu_strtosz", () => {
  assert.equal(strtosz("1.5G"), 1610612736n);
  assert.equal(strtosz("100b"), 100n);
  assert.equal(strtosz("1.5k"), 1536n);
  assert.equal(strtosz("1K"), 1024n);
  assert.equal(strtosz("0x10"), 16n);
  assert.equal(strtosz(" 12"), 12n);
  assert.equal(strtosz("1.0000000001k"), 1024n);
  assert.equal(strtosz("1.5b"), "EINVAL");
  assert.equal(strtosz("1.1"), "EINVAL");
  assert.equal(strtosz("1e3"), "EINVAL");
  assert.equal(strtosz("0x10k"), "EINVAL");
  assert.equal(strtosz("-1"), "EINVAL");
  assert.equal(strtosz("1x"), "EINVAL");
  assert.equal(strtosz("16E"), "ERANGE");
  assert.equal(strtosz("8E"), 1n << 63n);
});

Deno.test("cvtnum: the real tool's two error wordings", () => {
  assert.equal(cvtnum("image size", "64M"), 67108864);
  assert.throws(
    () => cvtnum("image size", "1x"),
    /Invalid image size specified. You may use k, M, G, T, P or E suffixes for\nqemu-img: kilobytes/,
  );
  assert.throws(() => cvtnum("image size", "8E"), /Must be between 0 and 9223372036854775807\./);
  assert.throws(
    () => cvtnum("bs", "0", 1n, 2147483647n),
    /Invalid bs specified. Must be between 1 and 2147483647\./,
  );
});

Deno.test("size_to_str: three significant digits, switching units at 1000", () => {
  assert.equal(sizeToStr(0), "0 B");
  assert.equal(sizeToStr(512), "512 B");
  assert.equal(sizeToStr(200704), "196 KiB");
  assert.equal(sizeToStr(1 << 30), "1 GiB");
  assert.equal(sizeToStr(1610612736), "1.5 GiB");
  assert.equal(sizeToStr(1000 * 1024), "0.977 MiB");
  assert.equal(sizeToStr(532480), "520 KiB");
});

Deno.test("QDict order: tdb_hash buckets reproduce qemu-img's JSON key order", () => {
  assert.equal(qdictBucket(""), 12345 % 512);
  assert.deepEqual(
    qdictKeys([
      "filename",
      "format",
      "check-errors",
      "image-end-offset",
      "total-clusters",
      "allocated-clusters",
    ]),
    ["image-end-offset", "total-clusters", "check-errors", "allocated-clusters", "filename", "format"],
  );
  assert.deepEqual(
    qdictKeys([
      "filename",
      "format",
      "dirty-flag",
      "actual-size",
      "virtual-size",
      "cluster-size",
      "snapshots",
      "format-specific",
    ]),
    [
      "snapshots",
      "virtual-size",
      "filename",
      "cluster-size",
      "format",
      "actual-size",
      "format-specific",
      "dirty-flag",
    ],
  );
});

Deno.test("toQemuJson: four-space pretty printing, absent members left out, empty containers", () => {
  assert.equal(toQemuJson({ a: 1, b: undefined }), '{\n    "a": 1\n}');
  assert.equal(toQemuJson([]), "[\n]");
  assert.equal(toQemuJson({ s: 'q"\n\u00e9' }), '{\n    "s": "q\\"\\n\\u00E9"\n}');
  assert.equal(toQemuJson([true, null]), "[\n    true,\n    null\n]");
});

Deno.test("QemuOpts: ,, escapes, help detection, typed values and messages", () => {
  assert.deepEqual(splitOpts("backing_file=a,,b,compat=1.1"), ["backing_file=a,b", "compat=1.1"]);
  assert.ok(wantsHelp("cluster_size=64k,help"));
  assert.ok(wantsHelp("?"));
  assert.ok(!wantsHelp("helpme=1"));
  const p = parseCreateOpts("qcow2", "cluster_size=4k,lazy_refcounts=yes,refcount_bits=0x10,compat=v3");
  assert.deepEqual(p.given, {
    cluster_size: "4096",
    lazy_refcounts: "yes",
    refcount_bits: "16",
    compat: "v3",
  });
  assert.deepEqual(toCreateOptions("qcow2", p, 1024), {
    size: 1024,
    clusterSize: 4096,
    lazyRefcounts: true,
    refcountBits: 16,
    compat: "1.1",
  });
  assert.throws(() => parseCreateOpts("qcow2", "bogus=1"), /Invalid parameter 'bogus'/);
  assert.throws(
    () => parseCreateOpts("qcow2", "extended_l2=maybe"),
    /Parameter 'extended_l2' expects 'on' or 'off'/,
  );
  assert.throws(
    () => parseCreateOpts("qcow2", "refcount_bits=x"),
    /Parameter 'refcount_bits' expects a number/,
  );
  assert.throws(() => parseCreateOpts("qcow2", "cluster_size"), /expects a non-negative number below 2\^64/);
  assert.throws(
    () => toCreateOptions("qcow2", parseCreateOpts("qcow2", "compat=2"), 1),
    /Parameter 'version' does not accept value '2'/,
  );
  assert.throws(() => parseCreateOpts("raw", "cluster_size=4k"), /Invalid parameter 'cluster_size'/);
});

Deno.test("map rendering: JSON lines and the human table folding zero extents", () => {
  const entries = [
    {
      start: 0,
      length: 196608,
      depth: 0,
      present: true,
      zero: false,
      data: true,
      offset: 327680,
      filename: "d",
    },
    { start: 196608, length: 327680, depth: 0, present: false, zero: true, data: false },
    {
      start: 524288,
      length: 8192,
      depth: 0,
      present: true,
      zero: false,
      data: true,
      offset: 524288,
      filename: "d",
    },
  ];
  assert.equal(
    renderMap(entries, "json").text,
    '[{ "start": 0, "length": 196608, "depth": 0, "present": true, "zero": false, "data": true, "offset": 327680},\n' +
      '{ "start": 196608, "length": 327680, "depth": 0, "present": false, "zero": true, "data": false},\n' +
      '{ "start": 524288, "length": 8192, "depth": 0, "present": true, "zero": false, "data": true, "offset": 524288}]\n',
  );
  assert.equal(
    renderMap(entries, "human").text,
    "Offset          Length          Mapped to       File\n" +
      "0               0x30000         0x50000         d\n" +
      "0x80000         0x2000          0x80000         d\n",
  );
});

Deno.test("check human report: counts, percentages and the end offset", () => {
  const base = { corruptions: 0, leaks: 0, checkErrors: 0, corruptionsFixed: 0, leaksFixed: 0, messages: [] };
  assert.equal(
    checkHuman({ ...base, totalClusters: 1024, allocatedClusters: 4, imageEndOffset: 720896 }),
    "No errors were found on the image.\n4/1024 = 0.39% allocated, 0.00% fragmented, 0.00% compressed clusters\n" +
      "Image end offset: 720896\n",
  );
  assert.equal(
    checkHuman({ ...base, leaks: 2, imageEndOffset: 65536 }),
    "\n2 leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.\n" +
      "Image end offset: 65536\n",
  );
  assert.equal(
    SNAPSHOT_HEADER,
    "ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT",
  );
});

Deno.test("progress numbers print as printf's %3.2f, ties to even", async () => {
  const { fixed2 } = await import("../../../cli/qemu-img/progress.ts");
  assert.equal(fixed2(3.125), "3.12");
  assert.equal(fixed2(15.625), "15.62");
  assert.equal(fixed2(6.25), "6.25");
  assert.equal(fixed2(0), "0.00");
  assert.equal(fixed2(100), "100.00");
  assert.equal(fixed2(25.876), "25.88");
});
