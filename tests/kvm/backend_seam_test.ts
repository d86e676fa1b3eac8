/**
 * The VendorBackend seam as KVM_RUN uses it. No VMX backend exists yet, so this drives the seam with
 * a scripted stand-in that only reports exits: it checks the plumbing (one backend vCPU per vCPU,
 * the live register/CPUID context, kvm_run status fields, statistics reaching debugfs), not guest
 * execution.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  Kvm,
  KVM_EXIT,
  KVM_EXIT_IO_OUT,
  type KvmRun,
  type VcpuContext,
  type VendorBackend,
} from "../../lib/virt/kvm/mod.ts";
import { rootWith } from "./support/setup.ts";

Deno.test("KVM_RUN hands the vCPU's context to the backend and returns its exit in kvm_run", async () => {
  const root = await rootWith(["kvm_intel", "ept=0"]);
  const contexts: VcpuContext[] = [];
  const backend: VendorBackend = {
    name: "kvm_intel",
    createVcpu(ctx) {
      contexts.push(ctx);
      let step = 0;
      return {
        run(run: KvmRun) {
          ctx.stats.countExit("IO_INSTRUCTION");
          ctx.stats.count("io_exits");
          if (step++ === 0) {
            ctx.regs.rip += 1n;
            run.exitIo(KVM_EXIT_IO_OUT, 1, 0x3f8, 1, new Uint8Array([0x41]));
          } else run.beginExit(KVM_EXIT.HLT);
        },
      };
    },
  };
  using kvm = Kvm.open({ root, backend });
  const vm = kvm.createVm();
  const vcpu = vm.createVcpu(0);
  vcpu.setCpuid2(kvm.getSupportedCpuid(256));
  vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x1000n, rflags: 0x202n });
  vcpu.run();
  assert.equal(vcpu.kvmRun.exit_reason, KVM_EXIT.IO);
  assert.deepEqual([...vcpu.kvmRun.ioData()], [0x41]);
  assert.equal(vcpu.kvmRun.if_flag, 1);
  assert.equal(vcpu.getRegs().rip, 0x1001n, "the backend works on the vCPU's own registers");
  vcpu.run();
  assert.equal(vcpu.kvmRun.exit_reason, KVM_EXIT.HLT);
  assert.equal(contexts.length, 1);
  assert.equal(contexts[0].params.ept, false);
  assert.ok(contexts[0].cpuid.some((e) => e.function === 0x40000000));
  // The first RUN published at once; the second falls inside the publish interval and waits.
  const stat = (name: string) => Deno.readTextFileSync(join(root, "sys/kernel/debug/kvm", name)).trim();
  assert.equal(stat("io_exits"), "1");
  vm.close();
  assert.equal(stat("io_exits"), "0", "a closed VM's statistics leave debugfs");
});
