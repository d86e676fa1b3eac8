/**
 * A KVM user in another process for the gating tests: opens /dev/kvm in the root given as argument,
 * creates a VM with a vCPU, closes the /dev/kvm fd (the VM keeps its own reference), runs the vCPU
 * once, says "open" and holds the VM until stdin closes or the process is killed.
 */
import { Kvm } from "../../../lib/virt/kvm/mod.ts";

const kvm = Kvm.open({ root: Deno.args[0] });
const vm = kvm.createVm();
kvm.close();
vm.createVcpu(0).run();
console.log("open");
for await (const _ of Deno.stdin.readable) { /* hold until stdin closes */ }
vm.close();
console.log("closed");
