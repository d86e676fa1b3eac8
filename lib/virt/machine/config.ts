/**
 * What a PC is built from: the machine description the command line produces and the board
 * consumes. Plain data, so a test (or a QMP client later) can build a machine without the CLI.
 */

/** The accelerators a machine may try, in order (`-machine accel=kvm:tcg`). */
export type AccelName = "tcg" | "kvm";

export interface DriveConfig {
  file: string;
  /** Undefined means probe, as QEMU does (with its warning for raw). */
  format?: "raw" | "qcow2";
  interface: "ide" | "none";
  media: "disk" | "cdrom";
  /** IDE position 0..3: primary master, primary slave, secondary master, secondary slave. */
  index: number;
  snapshot: boolean;
  readOnly: boolean;
  cache: "writeback" | "writethrough" | "none" | "directsync" | "unsafe";
  /** discard=unmap|on: the guest's discards free clusters (QEMU's BDRV_O_UNMAP; default ignore). */
  unmap?: boolean;
  /** node-name=: the block node's name for QMP (query-block, snapshot-save's devices). */
  nodeName?: string;
}

/** A character backend as QEMU's `-serial`/`-debugcon`/`-monitor` strings name them. */
export type CharSpec =
  | { kind: "stdio" }
  | { kind: "null" }
  | { kind: "file"; path: string }
  /** A mux of the device and the human monitor on stdio (`mon:stdio`, `-nographic`). */
  | { kind: "mux-stdio" };

export interface IsaDebugExitConfig {
  iobase: number;
  iosize: number;
}

/** `-rtc`: the RTC's starting time, and which clock drives it. */
export interface RtcConfig {
  /** "utc", "localtime", or a start date as `-rtc base=` spells it ("2006-06-17T16:01:21"). */
  base: string;
  clock: "host" | "rt" | "vm";
  driftfix: "none" | "slew";
}

export interface MachineConfig {
  accel: AccelName[];
  /**
   * `-accel kvm,kernel-irqchip=` / `-M pc,kernel-irqchip=`: "on" puts the PIC, IOAPIC and local APIC
   * in the kernel, "off" keeps them in user space. Unset: the default (QEMU's is "on"; ours "off").
   */
  kernelIrqchip?: "on" | "off" | "split";
  cpuModel: string;
  /** `-cpu MODEL,+feat,-feat,feat=on`, in order. */
  cpuFeatures: { name: string; enabled: boolean }[];
  ramSize: number;
  bios?: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  drives: DriveConfig[];
  /** `-boot order=`: drive letters a, c, d, n in order. */
  bootOrder: string;
  bootMenu: boolean;
  /** `-snapshot`: every drive writes to a temporary overlay. */
  snapshot: boolean;
  /** COM1.. in order; undefined entries leave that port absent. */
  serial: CharSpec[];
  monitor?: CharSpec;
  debugcon?: CharSpec;
  isaDebugExit: IsaDebugExitConfig[];
  /** `-nographic`: no display; firmware is told so (fw_cfg) and puts its console on COM1. */
  nographic: boolean;
  noReboot: boolean;
  noShutdown: boolean;
  name?: string;
  pidfile?: string;
  /** `-d` items (in_asm, int, cpu, exec, cpu_reset, guest_errors, unimp). */
  log: Set<string>;
  logFile?: string;
  rtc: RtcConfig;
}

/** QEMU's default RAM for -M pc. */
export const DEFAULT_RAM_SIZE = 128 << 20;
/** Where 32-bit RAM ends on our PC: the PCI hole and the ROM/APIC area above it stay unmapped. */
export const MAX_RAM_SIZE = 0xe0000000;
