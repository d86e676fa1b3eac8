/**
 * ioctl(fd, request, arg) over the three fd kinds, for callers that speak in request numbers.
 * A request another kind of fd owns gets that fd kind's default errno in Linux 6.8: EINVAL from
 * /dev/kvm (kvm_arch_dev_ioctl) and from a vCPU (kvm_arch_vcpu_ioctl), ENOTTY from a VM
 * (kvm_arch_vm_ioctl); anything that is not a KVM fd at all is ENOTTY.
 */
import { ErrnoError } from "../../errors.ts";
import { KVM } from "./constants.ts";
import { Kvm, type KvmMsrList } from "./system.ts";
import { KvmVm } from "./vm.ts";
import { KvmVcpu } from "./vcpu.ts";
import type { KvmUserspaceMemoryRegion } from "./memory.ts";
import type { KvmCpuidEntry2, KvmMsrEntry, KvmRegs, KvmSregs } from "./structs.ts";
import type { KvmIrqchip, KvmIrqLevel, KvmIrqRoutingEntry, KvmPitState2 } from "./irqchip/structs.ts";

// deno-lint-ignore no-explicit-any
type Handler<T> = (fd: T, arg: any) => unknown;

const SYSTEM = new Map<number, Handler<Kvm>>([
  [KVM.GET_API_VERSION, (k) => k.getApiVersion()],
  [KVM.CREATE_VM, (k, type: number | undefined) => k.createVm(type ?? 0)],
  [KVM.GET_MSR_INDEX_LIST, (k, list: KvmMsrList) => k.getMsrIndexList(list)],
  [KVM.CHECK_EXTENSION, (k, cap: number) => k.checkExtension(cap)],
  [KVM.GET_VCPU_MMAP_SIZE, (k) => k.getVcpuMmapSize()],
  [KVM.GET_SUPPORTED_CPUID, (k, nent: number) => k.getSupportedCpuid(nent)],
]);

const VM = new Map<number, Handler<KvmVm>>([
  [KVM.CHECK_EXTENSION, (v, cap: number) => v.checkExtension(cap)],
  [KVM.CREATE_VCPU, (v, id: number) => v.createVcpu(id)],
  [KVM.SET_USER_MEMORY_REGION, (v, r: KvmUserspaceMemoryRegion) => (v.setUserMemoryRegion(r), 0)],
  [KVM.SET_TSS_ADDR, (v, addr: number) => (v.setTssAddr(addr), 0)],
  [KVM.CREATE_IRQCHIP, (v) => (v.createIrqchip(), 0)],
  [KVM.IRQ_LINE, (v, l: KvmIrqLevel) => (v.irqLine(l.irq, l.level), 0)],
  [KVM.IRQ_LINE_STATUS, (v, l: KvmIrqLevel) => v.irqLineStatus(l)],
  [KVM.GET_IRQCHIP, (v, c: { chip_id: number }) => v.getIrqchip(c)],
  [KVM.SET_IRQCHIP, (v, c: KvmIrqchip) => (v.setIrqchip(c), 0)],
  [
    KVM.SET_GSI_ROUTING,
    (v, r: { entries: KvmIrqRoutingEntry[]; flags?: number }) => (v.setGsiRouting(r.entries, r.flags), 0),
  ],
  [KVM.CREATE_PIT2, (v, c: { flags: number } | undefined) => (v.createPit2(c), 0)],
  [KVM.GET_PIT2, (v) => v.getPit2()],
  [KVM.REINJECT_CONTROL, (v, c: { pit_reinject: number }) => (v.reinjectControl(c), 0)],
  [KVM.SET_PIT2, (v, s: KvmPitState2) => (v.setPit2(s), 0)],
]);

const VCPU = new Map<number, Handler<KvmVcpu>>([
  [KVM.RUN, (c) => (c.run(), 0)],
  [KVM.GET_REGS, (c) => c.getRegs()],
  [KVM.SET_REGS, (c, r: KvmRegs) => (c.setRegs(r), 0)],
  [KVM.GET_SREGS, (c) => c.getSregs()],
  [KVM.SET_SREGS, (c, s: KvmSregs) => (c.setSregs(s), 0)],
  [KVM.INTERRUPT, (c, i: { irq: number }) => (c.interrupt(i.irq), 0)],
  [KVM.NMI, (c) => (c.nmi(), 0)],
  [KVM.GET_MSRS, (c, e: KvmMsrEntry[]) => c.getMsrs(e)],
  [KVM.SET_MSRS, (c, e: KvmMsrEntry[]) => c.setMsrs(e)],
  [KVM.SET_CPUID2, (c, e: KvmCpuidEntry2[]) => (c.setCpuid2(e), 0)],
  [KVM.GET_CPUID2, (c, nent: number) => c.getCpuid2(nent)],
  [KVM.GET_MP_STATE, (c) => c.getMpState()],
  [KVM.SET_MP_STATE, (c, s: { mp_state: number }) => (c.setMpState(s.mp_state), 0)],
  [KVM.GET_LAPIC, (c) => c.getLapic()],
  [KVM.SET_LAPIC, (c, regs: Uint8Array) => (c.setLapic(regs), 0)],
]);

/** Issues `request` on a KVM fd; returns what the method returns (a number, a new fd, a struct). */
export function ioctl(fd: unknown, request: number, arg?: unknown): unknown {
  request >>>= 0;
  if (fd instanceof Kvm) return dispatch(SYSTEM, fd, request, arg, "EINVAL");
  if (fd instanceof KvmVm) return dispatch(VM, fd, request, arg, "ENOTTY");
  if (fd instanceof KvmVcpu) return dispatch(VCPU, fd, request, arg, "EINVAL");
  throw new ErrnoError("ENOTTY");
}

function dispatch<T>(
  table: Map<number, Handler<T>>,
  fd: T,
  request: number,
  arg: unknown,
  otherwise: "EINVAL" | "ENOTTY",
): unknown {
  const h = table.get(request);
  if (!h) throw new ErrnoError(otherwise);
  return h(fd, arg);
}
