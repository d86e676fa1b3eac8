/**
 * The KVM API's numbers (include/uapi/linux/kvm.h, Documentation/virt/kvm/api.rst): ioctl
 * requests encoded as _IO/_IOR/_IOW/_IOWR over KVMIO with the real structure sizes, exit
 * reasons, internal-error suberrors, memory-region flags and MP states.
 */

const KVMIO = 0xae;
const NONE = 0, WRITE = 1, READ = 2;
const ioc = (dir: number, nr: number, size: number) => ((dir << 30) | (size << 16) | (KVMIO << 8) | nr) >>> 0;

/** sizeof() of the structures the ioctls carry, as encoded in their request numbers. */
export const SIZEOF = {
  kvm_msr_list: 4,
  kvm_cpuid2: 8,
  kvm_cpuid_entry2: 40,
  kvm_userspace_memory_region: 32,
  kvm_irq_level: 8,
  kvm_pit_config: 64,
  kvm_pit_state2: 112,
  kvm_regs: 144,
  kvm_sregs: 312,
  kvm_segment: 24,
  kvm_dtable: 16,
  kvm_msrs: 8,
  kvm_msr_entry: 16,
  kvm_mp_state: 4,
  kvm_interrupt: 4,
  kvm_irqchip: 520,
  kvm_irq_routing: 8,
  kvm_lapic_state: 1024,
} as const;

export const KVM = {
  // system ioctls
  GET_API_VERSION: ioc(NONE, 0x00, 0),
  CREATE_VM: ioc(NONE, 0x01, 0),
  GET_MSR_INDEX_LIST: ioc(READ | WRITE, 0x02, SIZEOF.kvm_msr_list),
  CHECK_EXTENSION: ioc(NONE, 0x03, 0),
  GET_VCPU_MMAP_SIZE: ioc(NONE, 0x04, 0),
  GET_SUPPORTED_CPUID: ioc(READ | WRITE, 0x05, SIZEOF.kvm_cpuid2),
  // VM ioctls
  CREATE_VCPU: ioc(NONE, 0x41, 0),
  SET_USER_MEMORY_REGION: ioc(WRITE, 0x46, SIZEOF.kvm_userspace_memory_region),
  SET_TSS_ADDR: ioc(NONE, 0x47, 0),
  CREATE_IRQCHIP: ioc(NONE, 0x60, 0),
  IRQ_LINE: ioc(WRITE, 0x61, SIZEOF.kvm_irq_level),
  GET_IRQCHIP: ioc(READ | WRITE, 0x62, SIZEOF.kvm_irqchip),
  // _IOR, as kvm.h has always (mis)declared it.
  SET_IRQCHIP: ioc(READ, 0x63, SIZEOF.kvm_irqchip),
  IRQ_LINE_STATUS: ioc(READ | WRITE, 0x67, SIZEOF.kvm_irq_level),
  SET_GSI_ROUTING: ioc(WRITE, 0x6a, SIZEOF.kvm_irq_routing),
  REINJECT_CONTROL: ioc(NONE, 0x71, 0),
  CREATE_PIT2: ioc(WRITE, 0x77, SIZEOF.kvm_pit_config),
  GET_PIT2: ioc(READ, 0x9f, SIZEOF.kvm_pit_state2),
  SET_PIT2: ioc(WRITE, 0xa0, SIZEOF.kvm_pit_state2),
  // vCPU ioctls
  RUN: ioc(NONE, 0x80, 0),
  GET_REGS: ioc(READ, 0x81, SIZEOF.kvm_regs),
  SET_REGS: ioc(WRITE, 0x82, SIZEOF.kvm_regs),
  GET_SREGS: ioc(READ, 0x83, SIZEOF.kvm_sregs),
  SET_SREGS: ioc(WRITE, 0x84, SIZEOF.kvm_sregs),
  INTERRUPT: ioc(WRITE, 0x86, SIZEOF.kvm_interrupt),
  GET_MSRS: ioc(READ | WRITE, 0x88, SIZEOF.kvm_msrs),
  SET_MSRS: ioc(WRITE, 0x89, SIZEOF.kvm_msrs),
  SET_CPUID2: ioc(WRITE, 0x90, SIZEOF.kvm_cpuid2),
  GET_CPUID2: ioc(READ | WRITE, 0x91, SIZEOF.kvm_cpuid2),
  GET_MP_STATE: ioc(READ, 0x98, SIZEOF.kvm_mp_state),
  SET_MP_STATE: ioc(WRITE, 0x99, SIZEOF.kvm_mp_state),
  GET_LAPIC: ioc(READ, 0x8e, SIZEOF.kvm_lapic_state),
  SET_LAPIC: ioc(WRITE, 0x8f, SIZEOF.kvm_lapic_state),
  NMI: ioc(NONE, 0x9a, 0),
} as const;

export type KvmIoctlName = keyof typeof KVM;

/** The request's name, for messages; undefined for numbers KVM does not know. */
export function ioctlName(request: number): KvmIoctlName | undefined {
  return (Object.keys(KVM) as KvmIoctlName[]).find((k) => KVM[k] === request >>> 0);
}

/** kvm_run.exit_reason values. */
export const KVM_EXIT = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  SET_TPR: 11,
  TPR_ACCESS: 12,
  NMI: 16,
  INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24,
  X86_RDMSR: 29,
  X86_WRMSR: 30,
} as const;

export const KVM_EXIT_IO_IN = 0, KVM_EXIT_IO_OUT = 1;

/** kvm_run.internal.suberror values. */
export const KVM_INTERNAL_ERROR = {
  EMULATION: 1,
  SIMUL_EX: 2,
  DELIVERY_EV: 3,
  UNEXPECTED_EXIT_REASON: 4,
} as const;

/** kvm_run.system_event.type values. */
export const KVM_SYSTEM_EVENT = { SHUTDOWN: 1, RESET: 2, CRASH: 3 } as const;

/** kvm_userspace_memory_region.flags. */
export const KVM_MEM_LOG_DIRTY_PAGES = 1, KVM_MEM_READONLY = 2;

/** kvm_mp_state.mp_state values x86 accepts. */
export const KVM_MP_STATE = {
  RUNNABLE: 0,
  UNINITIALIZED: 1,
  INIT_RECEIVED: 2,
  HALTED: 3,
  SIPI_RECEIVED: 4,
} as const;

/** Limits of x86 KVM 6.8 (KVM_USER_MEM_SLOTS, KVM_MAX_VCPUS, KVM_MAX_VCPU_IDS, ...). */
export const LIMITS = {
  userMemSlots: 32764,
  addressSpaces: 2,
  maxVcpus: 1024,
  maxVcpuIds: 4096,
  maxCpuidEntries: 256,
  maxIoMsrs: 256,
  nrInterrupts: 256,
  pageSize: 4096,
  /** KVM_MEM_MAX_NR_PAGES: (1 << 31) - 1 pages. */
  maxNrPages: 2 ** 31 - 1,
} as const;

/** The vCPU mmap: the kvm_run page, the PIO data page (offset 1), the coalesced-MMIO ring page. */
export const KVM_PIO_PAGE_OFFSET = 1;
export const KVM_COALESCED_MMIO_PAGE_OFFSET = 2;
export const VCPU_MMAP_SIZE = 3 * LIMITS.pageSize;
