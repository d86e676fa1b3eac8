/**
 * `kvm-ctl stat`: the KVM statistics as kvm_stat shows them: debugfs counters summed over the
 * running VMs, and `kvm_exit(REASON)` events. Without -1 it prints one summary; with -1
 * (kvm_stat's batch mode) it samples twice a second apart and prints `name total delta`.
 */
import { ALL_STATS } from "../../lib/virt/modules/stats.ts";
import type { Kernel } from "../../lib/virt/modules/kernel.ts";
import { getoptLong, longTable } from "./getopt.ts";
import { type Context, err, out } from "./io.ts";

const LONG = longTable([
  ["once", "1"],
  ["batch", "1"],
  ["fields", "f", true],
  ["pid", "p", true],
  ["skip-zero-records", "z"],
  ["help", "h"],
]);

const HELP = `Usage: kvm-ctl stat [options]

Options:
  -1, --once, --batch       run in batch mode for one second
  -f, --fields=FIELDS       fields to display (regex)
  -p, --pid=PID             restrict statistics to the guest with this pid
  -z, --skip-zero-records   omit records with all zeros
  -h, --help                show this help
`;

const NOT_AVAILABLE = "Please make sure that debugfs is mounted and readable by the current user:\n" +
  "('mount -t debugfs debugfs /sys/kernel/debug')\nAlso ensure, that the kvm modules are loaded.\n";

function sample(
  k: Kernel,
  pid: number | undefined,
): { values: Map<string, number>; vms: number; vcpus: number } {
  const vms = k.liveHandles().filter((h) => pid === undefined || h.pid === pid).map((h) => k.vmStats(h));
  const values = new Map<string, number>();
  for (const s of ALL_STATS) values.set(s, 0);
  for (const vm of vms) {
    for (const [s, v] of Object.entries(vm.stats)) values.set(s, (values.get(s) ?? 0) + v);
    for (const [r, v] of Object.entries(vm.exitReasons)) {
      values.set(`kvm_exit(${r})`, (values.get(`kvm_exit(${r})`) ?? 0) + v);
    }
  }
  return { values, vms: vms.length, vcpus: vms.reduce((n, vm) => n + vm.vcpus, 0) };
}

export function stat(ctx: Context, argv: string[]): number {
  const parsed = getoptLong("kvm_stat", argv, "1f:p:zh", LONG);
  if (!parsed.ok) return err(parsed.message), 1;
  let once = false, skipZero = false, fields: RegExp | undefined, pid: number | undefined;
  for (const { key, arg } of parsed.options) {
    if (key === "1") once = true;
    else if (key === "z") skipZero = true;
    else if (key === "h") return out(HELP), 0;
    else if (key === "p") {
      if (!/^[0-9]+$/.test(arg!)) {
        return err(`kvm_stat: error: argument -p/--pid: invalid int value: '${arg}'\n`), 2;
      }
      pid = Number(arg);
    } else if (key === "f") {
      try {
        fields = new RegExp(arg!);
      } catch {
        return err(`kvm_stat: error: "${arg}" is not a valid regex\n`), 2;
      }
    }
  }
  if (parsed.operands.length) {
    return err(`kvm_stat: error: unrecognized arguments: ${parsed.operands.join(" ")}\n`), 2;
  }
  const system = ctx.system();
  let k = system.snapshot();
  if (!k.loaded("kvm")) return err(NOT_AVAILABLE), 1;
  const pick = (m: Map<string, number>) => [...m.keys()].filter((n) => !fields || fields.test(n)).sort();
  if (once) {
    const first = sample(k, pid).values;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
    k = system.snapshot();
    const second = sample(k, pid).values;
    let text = "";
    for (const name of pick(second)) {
      const total = second.get(name)!;
      const delta = total - (first.get(name) ?? 0);
      if (skipZero && total === 0 && delta === 0) continue;
      text += `${name.padEnd(42)}${total.toString().padStart(10)}${delta.toString().padStart(10)}\n`;
    }
    out(text);
    return 0;
  }
  const { values, vms, vcpus } = sample(k, pid);
  let text = `VMs: ${vms}  vCPUs: ${vcpus}\n\n ${"Event".padEnd(41)}${"Total".padStart(10)}\n`;
  for (const name of pick(values)) {
    const total = values.get(name)!;
    if (skipZero && total === 0) continue;
    text += ` ${name.padEnd(41)}${total.toString().padStart(10)}\n`;
  }
  out(text);
  return 0;
}
