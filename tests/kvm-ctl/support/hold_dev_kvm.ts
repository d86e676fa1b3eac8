/**
 * A stand-in for `qemu-system -accel kvm` in the tests: opens the simulated /dev/kvm in the root
 * given as argument, publishes some statistics, says "open" and holds the handle until stdin
 * closes (then closes it) or the process is killed (then nothing is closed).
 */
import { DevKvm } from "../../../lib/virt/modules/mod.ts";

const root = Deno.args[0];
let kvm: DevKvm;
try {
  kvm = DevKvm.open({ root });
} catch (e) {
  console.log(`error ${(e as { code?: string }).code}`);
  Deno.exit(1);
}
kvm.updateStats({
  stats: { exits: 42, io_exits: 7, halt_exits: 3 },
  exitReasons: { HLT: 3, IO_INSTRUCTION: 7 },
  vcpus: 1,
});
console.log(
  `open ${kvm.vendor} nested=${kvm.param("vendor", "nested")} halt_poll_ns=${
    kvm.paramNumber("kvm", "halt_poll_ns")
  }`,
);
for await (const _ of Deno.stdin.readable) { /* hold until stdin closes */ }
kvm.close();
console.log("closed");
