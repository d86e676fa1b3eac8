/**
 * The classic minimal KVM program (as in LWN's "Using the KVM API"), in TypeScript against the
 * simulated /dev/kvm: one page of guest memory with real-mode code that adds two registers, writes
 * the sum and a newline to port 0x3f8 and halts; the host loop prints every exit.
 *
 *   deno run --allow-read --allow-write --allow-env --allow-run=sh examples/kvm-hello.ts [ROOT]
 *
 * ROOT is a kvm-ctl state root (default as kvm-ctl resolves it) where `kvm-ctl modprobe kvm_intel`
 * has been run. KVM_RUN enters the guest in VMX non-root operation of the emulated CPU through the
 * simulated kvm_intel; the program prints each exit on stderr and the guest's output on stdout:
 *
 *   KVM_EXIT_IO: out port 0x3f8, size 1, count 1
 *   4
 *   KVM_EXIT_IO: out port 0x3f8, size 1, count 1
 *   KVM_EXIT_HLT
 */
import { ErrnoError } from "../lib/errors.ts";
import { Kvm, KVM_EXIT, KVM_EXIT_IO_OUT } from "../lib/virt/kvm/mod.ts";

// mov dx, 0x3f8; add al, bl; add al, '0'; out dx, al; mov al, '\n'; out dx, al; hlt
const CODE = [0xba, 0xf8, 0x03, 0x00, 0xd8, 0x04, 0x30, 0xee, 0xb0, 0x0a, 0xee, 0xf4];
const GUEST_ADDR = 0x1000;

function fail(what: string, e: unknown): never {
  const err = e instanceof ErrnoError
    ? `${e.strerror}${e.message !== e.strerror ? ` (${e.message})` : ""}`
    : String(e);
  console.error(`${what}: ${err}`);
  Deno.exit(1);
}

let kvm: Kvm;
try {
  kvm = Kvm.open({ root: Deno.args[0] });
} catch (e) {
  fail("open /dev/kvm", e);
}
const version = kvm.getApiVersion();
if (version !== 12) fail("KVM_GET_API_VERSION", `got ${version}, expected 12`);

const vm = kvm.createVm();
const mem = new ArrayBuffer(0x1000);
new Uint8Array(mem).set(CODE);
vm.setUserMemoryRegion({
  slot: 0,
  flags: 0,
  guest_phys_addr: GUEST_ADDR,
  memory_size: 0x1000,
  userspace_addr: mem,
});

const vcpu = vm.createVcpu(0);
const run = vcpu.kvmRun; // the mmap of KVM_GET_VCPU_MMAP_SIZE bytes
const sregs = vcpu.getSregs();
vcpu.setSregs({ ...sregs, cs: { ...sregs.cs, base: 0n, selector: 0 } });
vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(GUEST_ADDR), rax: 2n, rbx: 2n, rflags: 0x2n });

for (;;) {
  try {
    vcpu.run();
  } catch (e) {
    fail("KVM_RUN", e);
  }
  switch (run.exit_reason) {
    case KVM_EXIT.HLT:
      console.error("KVM_EXIT_HLT");
      vm.close();
      kvm.close();
      Deno.exit(0);
      break;
    case KVM_EXIT.IO: {
      const io = run.io;
      console.error(
        `KVM_EXIT_IO: ${io.direction === KVM_EXIT_IO_OUT ? "out" : "in"} port 0x${io.port.toString(16)}, ` +
          `size ${io.size}, count ${io.count}`,
      );
      if (io.direction === KVM_EXIT_IO_OUT && io.size === 1 && io.port === 0x3f8 && io.count === 1) {
        Deno.stdout.writeSync(run.ioData());
      } else {
        fail(
          "KVM_EXIT_IO",
          `unhandled direction ${io.direction} size ${io.size} port 0x${io.port.toString(16)}`,
        );
      }
      break;
    }
    case KVM_EXIT.FAIL_ENTRY:
      fail(
        "KVM_EXIT_FAIL_ENTRY",
        `hardware_entry_failure_reason = 0x${run.fail_entry.hardware_entry_failure_reason.toString(16)}`,
      );
      break;
    case KVM_EXIT.INTERNAL_ERROR:
      fail("KVM_EXIT_INTERNAL_ERROR", `suberror = 0x${run.internal.suberror.toString(16)}`);
      break;
    default:
      fail("exit_reason", `0x${run.exit_reason.toString(16)}`);
  }
}
