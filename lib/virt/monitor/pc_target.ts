/**
 * The MonitorTarget for the PC board (lib/virt/machine/pc.ts). The board has no pause hook of its
 * own, so the adapter stands between it and its vCPU: while the VM is stopped the vCPU it hands the
 * run loop reports HLT (or, with an interrupt pending that a stopped CPU must not take, sleeps a few
 * ms and reports "stop"), and the virtual clock is paused, as QEMU stops its virtual clock with the
 * VM. With breakpoints, watchpoints or a single-step pending the adapter runs the CPU one instruction
 * at a time and checks before each; without them the CPU runs its normal slices untouched. Write
 * watchpoints compare the watched bytes after each instruction; read and access watchpoints have
 * the MMU report data accesses to their pages (Mmu.watchPages), as QEMU's TLB_WATCHPOINT does.
 */
import type { Cpu } from "../../cpu/cpu.ts";
import { CS, IF } from "../../cpu/state.ts";
import type { IdeDrive } from "../../devices/ide.ts";
import { changeMedium } from "../../devices/atapi.ts";
import { openImage } from "../../image/formats.ts";
import type { Vcpu, VcpuStop } from "../accel/vcpu.ts";
import { type SnapshotDisk, type SnapshotHost, VmSnapshots } from "../snapshot/vm_snapshots.ts";
import type { Pc, PcExit } from "../machine/pc.ts";
import { debugTranslate, readLinear } from "./debug_memory.ts";
import { DeviceNotFoundError, MonitorError } from "./errors.ts";
import type {
  BlockDevice,
  BreakpointType,
  DebugStop,
  MachineEvent,
  MonitorTarget,
  RunState,
} from "./target.ts";

/** Longest synchronous sleep while stopped with an interrupt pending (the loop yields right after). */
const STOPPED_SLEEP_MS = 5;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

interface Watchpoint {
  type: "watch" | "rwatch" | "awatch";
  address: number;
  length: number;
  last: Uint8Array;
  now: Uint8Array;
}

export interface PcTargetOptions {
  /** -S: start stopped in the prelaunch state. */
  startPaused?: boolean;
  name?: string;
  accel?: string;
  /** -drive node-name=, by legacy drive id (ide0-hd0); others get QEMU-style generated names. */
  nodeNames?: Record<string, string>;
}

export class PcTarget implements MonitorTarget, Vcpu, SnapshotHost {
  readonly cpu: Cpu;
  /** savevm/loadvm/delvm over this machine's disks. */
  readonly snapshots: VmSnapshots;
  readonly name?: string;
  readonly accel: string;
  onDebugStop?: (why: DebugStop) => void;
  private state: RunState;
  private readonly nodeNames: Record<string, string>;
  private readonly inner: Vcpu;
  private readonly listeners = new Set<(e: MachineEvent) => void>();
  private readonly breakpoints = new Set<number>();
  private readonly watchpoints: Watchpoint[] = [];
  private stepping = false;
  /** A read/access watchpoint the last instruction touched (reported by the MMU). */
  private accessHit?: Watchpoint;
  /** Resuming from a breakpoint address: do not stop on it before its instruction has run. */
  private skipBreakAt = -1;
  private pendingReset = false;
  /** Times each ISA IRQ line went high (QEMU's i8259 irq_count). */
  readonly irqCounts = new Float64Array(16);

  constructor(readonly pc: Pc, options: PcTargetOptions = {}) {
    if (!pc.vcpu) throw new MonitorError("the board has no vCPU yet");
    this.inner = pc.vcpu;
    this.cpu = pc.vcpu as unknown as Cpu;
    this.name = options.name;
    this.accel = options.accel ?? "tcg";
    this.nodeNames = options.nodeNames ?? {};
    this.state = options.startPaused ? "prelaunch" : "running";
    this.snapshots = new VmSnapshots(this);
    if (options.startPaused) pc.clock.pause();
    pc.vcpu = this;
    const previousReset = pc.onReset;
    pc.onReset = () => {
      previousReset?.();
      // A host reset announced its event when it was asked for (QEMU's order: event, then reply).
      if (this.pendingReset) this.pendingReset = false;
      else this.emit("RESET", { guest: true, reason: "guest-reset" });
    };
    // `info irq`'s statistics: raised edges per ISA IRQ, counted where every ISA line passes.
    const route = pc.irq.setIrq.bind(pc.irq);
    const counts = this.irqCounts, levels = new Uint8Array(16);
    pc.irq.setIrq = (irq: number, level: boolean) => {
      if (level && !levels[irq]) counts[irq]++;
      levels[irq] = level ? 1 : 0;
      route(irq, level);
    };
    for (const d of this.blockDevices()) {
      if (d.drive.isAtapi) {
        d.drive.atapi.onTrayMoved = (open) =>
          this.emit("DEVICE_TRAY_MOVED", { device: d.device, "tray-open": open, id: d.qdev });
      }
    }
  }

  // ---- Vcpu, as the board's run loop sees it ----

  get halted(): boolean {
    return this.inner.halted;
  }
  set halted(v: boolean) {
    this.inner.halted = v;
  }
  get instructions(): number {
    return this.inner.instructions;
  }
  reset(): void {
    this.inner.reset();
  }

  run(budget: number): VcpuStop {
    if (this.state !== "running") {
      const bus = this.pc.bus;
      if (!bus.intr && !bus.nmi) return "hlt";
      Atomics.wait(sleeper, 0, 0, STOPPED_SLEEP_MS);
      return "stop";
    }
    if (!this.stepping && this.breakpoints.size === 0 && this.watchpoints.length === 0) {
      return this.inner.run(budget);
    }
    return this.runChecked(budget);
  }

  /** One instruction at a time, checking breakpoints before and watchpoints after each. */
  private runChecked(budget: number): VcpuStop {
    const cpu = this.cpu;
    const bus = this.pc.bus;
    for (let done = 0; done < budget;) {
      const pc = (cpu.segBase[CS] + cpu.eip) >>> 0;
      if (pc !== this.skipBreakAt && this.breakpoints.has(pc) && !cpu.halted) {
        this.debugStop({ kind: "breakpoint" });
        return "stop";
      }
      this.skipBreakAt = -1;
      // A zero shadow lets run() take a pending interrupt first; otherwise a one-instruction
      // shadow makes it run exactly one instruction instead of a whole block.
      const deliverable = cpu.intShadow === 0 &&
        ((bus.nmi && !cpu.nmiBlocked) || (bus.intr && (cpu.eflags & IF) !== 0 && !this.stepping));
      const shadowed = !deliverable && !cpu.halted && cpu.intShadow === 0;
      if (shadowed) cpu.intShadow = 1;
      const reason = this.inner.run(1);
      if (shadowed && cpu.lastRun === 0) cpu.intShadow = 0;
      done += Math.max(1, cpu.lastRun);
      const hit = this.takeAccessHit() ?? this.changedWatchpoint();
      if (hit) {
        this.debugStop({ kind: "watch", type: hit.type, address: hit.address });
        return "stop";
      }
      if (this.stepping && cpu.lastRun > 0) {
        this.debugStop({ kind: "step" });
        return "stop";
      }
      if (reason !== "budget") return reason;
    }
    return "budget";
  }

  private takeAccessHit(): Watchpoint | undefined {
    const hit = this.accessHit;
    this.accessHit = undefined;
    return hit;
  }

  /** The MMU saw a data access on a watched page: note the first read/access watchpoint it hits. */
  private watchedAccess(lin: number, bytes: number, write: boolean): void {
    if (this.accessHit) return;
    this.accessHit = this.watchpoints.find((w) =>
      (w.type === "awatch" || (w.type === "rwatch" && !write)) &&
      lin < w.address + w.length && w.address < lin + bytes
    );
  }

  /** Keeps the MMU's watched pages in step with the read/access watchpoints. */
  private updateWatchPages(): void {
    const pages = new Set<number>();
    for (const w of this.watchpoints) {
      if (w.type === "watch") continue;
      for (let p = w.address >>> 12; p <= ((w.address + w.length - 1) >>> 12); p++) pages.add(p);
    }
    this.cpu.watchPages = pages.size ? pages : undefined;
    this.cpu.onWatchedAccess = pages.size
      ? (lin, bytes, write) => this.watchedAccess(lin, bytes, write)
      : undefined;
    this.cpu.flushAllTlbs();
  }

  /** Runs after every instruction while watching: compares in place in RAM, allocating nothing. */
  private changedWatchpoint(): Watchpoint | undefined {
    const bus = this.pc.bus;
    for (const w of this.watchpoints) {
      if (w.type !== "watch") continue;
      const phys = debugTranslate(this.cpu, w.address);
      const page = phys >= 0 ? bus.pageMap[phys >>> 12] : -1;
      let now: Uint8Array;
      let at = 0;
      if (page >= 0 && (phys & 0xfff) + w.length <= 0x1000) {
        now = bus.u8;
        at = (page << 12) | (phys & 0xfff);
      } else {
        readLinear(this.cpu, w.address, w.now);
        now = w.now;
      }
      let same = true;
      for (let i = 0; i < w.length; i++) if (now[at + i] !== w.last[i]) same = false;
      if (!same) {
        for (let i = 0; i < w.length; i++) w.last[i] = now[at + i];
        return w;
      }
    }
    return undefined;
  }

  private debugStop(why: DebugStop): void {
    this.stepping = false;
    this.enterStopped("debug");
    this.onDebugStop?.(why);
  }

  // ---- run state ----

  get runState(): RunState {
    return this.state;
  }

  stop(): void {
    if (this.state !== "running") return;
    this.enterStopped("paused");
  }

  /** Stops for the debugger (gdb's Ctrl-C), reporting it to the stub. */
  interrupt(): void {
    if (this.state === "running") this.debugStop({ kind: "interrupt" });
    else this.onDebugStop?.({ kind: "interrupt" });
  }

  private enterStopped(state: RunState): void {
    const wasRunning = this.state === "running";
    this.state = state;
    if (wasRunning) {
      this.pc.clock.pause();
      this.emit("STOP");
    }
  }

  get running(): boolean {
    return this.state === "running";
  }

  /** vm_stop(state) for savevm/loadvm: a running VM stops (STOP); a stopped one keeps its state. */
  pauseFor(state: "save-vm" | "restore-vm"): void {
    if (this.state === "running") this.enterStopped(state);
  }

  resume(): void {
    this.cont();
  }

  cont(): void {
    if (this.state === "running" || this.state === "shutdown") return;
    this.skipBreakAt = (this.cpu.segBase[CS] + this.cpu.eip) >>> 0;
    this.state = "running";
    this.pc.clock.resume();
    this.emit("RESUME");
    this.pc.kick();
  }

  step(): void {
    this.stepping = true;
    this.cont();
  }

  systemReset(reason: string): void {
    this.pendingReset = true;
    this.emit("RESET", { guest: false, reason });
    this.pc.bus.requestReset();
    this.pc.kick();
  }

  powerdown(): void {
    this.emit("POWERDOWN");
    this.pc.acpi.powerButton();
    this.pc.kick();
  }

  quit(reason: string): void {
    this.emit("SHUTDOWN", { guest: false, reason });
    this.state = "shutdown";
    this.pc.quit();
  }

  /** The CLI reports how the board's run ended, so clients see SHUTDOWN for guest poweroff. */
  machineExited(exit: PcExit): void {
    if (this.state === "shutdown") return;
    this.state = "shutdown";
    // isa-debug-exit ends QEMU with exit() and no event; ACPI S5 is the guest shutting down, and
    // -no-reboot turns a guest reset into a shutdown.
    if (exit.kind === "shutdown" && exit.reason === "poweroff") {
      this.emit("SHUTDOWN", { guest: true, reason: "guest-shutdown" });
    } else if (exit.kind === "reset") this.emit("SHUTDOWN", { guest: true, reason: "guest-reset" });
    this.onDebugStop?.({ kind: "exited", status: exit.kind === "shutdown" ? exit.status : 0 });
  }

  // ---- events ----

  onEvent(listener: (e: MachineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: string, data?: Record<string, unknown>): void {
    const e: MachineEvent = {
      event,
      timestampUs: Math.floor((performance.timeOrigin + performance.now()) * 1000),
    };
    if (data) e.data = data;
    for (const l of [...this.listeners]) l(e);
  }

  // ---- memory ----

  readPhysical(address: number, into: Uint8Array): void {
    this.pc.bus.readBytes(address >>> 0, into);
  }

  writePhysical(address: number, data: Uint8Array): void {
    this.pc.bus.writeBytes(address >>> 0, data, true);
  }

  linearToPhysical(linear: number): number {
    return debugTranslate(this.cpu, linear);
  }

  // ---- block devices ----

  blockDevices(): BlockDevice[] {
    const out: BlockDevice[] = [];
    this.pc.ide.channels.forEach((channel, bus) => {
      channel.drives.forEach((drive: IdeDrive | undefined, unit) => {
        if (!drive) return;
        const cd = drive.isAtapi;
        const qdev = `/machine/unattached/device[${22 + bus * 2 + unit}]`;
        const device = `ide${bus}-${cd ? "cd" : "hd"}${unit}`;
        out.push({
          device,
          qdev,
          nodeName: this.nodeNames[device] ?? `#block${qdev.replace(/\D/g, "")}`,
          drive,
          removable: cd,
          filename: drive.driver?.filename,
          format: drive.driver?.format,
          readOnly: drive.driver?.readOnly ?? cd,
        });
      });
    });
    return out;
  }

  /** The inserted disks, for savevm/loadvm. */
  disks(): SnapshotDisk[] {
    return this.blockDevices().flatMap((d) =>
      d.drive.driver ? [{ device: d.device, nodeName: d.nodeName, driver: d.drive.driver }] : []
    );
  }

  private findDevice(device: string): BlockDevice {
    const d = this.blockDevices().find((b) => b.device === device || b.qdev === device);
    if (!d) throw new DeviceNotFoundError(`Device '${device}' not found`);
    return d;
  }

  eject(device: string, force: boolean): void {
    const d = this.findDevice(device);
    if (!d.removable) throw new MonitorError(`Device '${d.device}' is not removable`);
    if (d.drive.atapi.locked && !force) {
      throw new MonitorError(
        `Device '${d.device}' is locked and force was not specified, wait for tray to open and try again`,
      );
    }
    const old = d.drive.driver;
    if (!d.drive.atapi.trayOpen) {
      d.drive.atapi.trayOpen = true;
      d.drive.atapi.onTrayMoved?.(true);
    }
    changeMedium(d.drive, undefined);
    d.drive.atapi.trayOpen = true;
    old?.close();
  }

  changeMedium(device: string, filename: string, format?: string, readOnly?: boolean): void {
    const d = this.findDevice(device);
    if (!d.removable) throw new MonitorError(`Device '${d.device}' is not removable`);
    const driver = openImage(filename, { format, readOnly: readOnly ?? true });
    const old = d.drive.driver;
    if (!d.drive.atapi.trayOpen) d.drive.atapi.onTrayMoved?.(true);
    changeMedium(d.drive, driver);
    d.drive.atapi.onTrayMoved?.(false);
    old?.close();
  }

  // ---- debugger ----

  insertBreakpoint(type: BreakpointType, address: number, length: number): boolean {
    address >>>= 0;
    if (type === "sw" || type === "hw") {
      this.breakpoints.add(address);
      return true;
    }
    const last = new Uint8Array(length);
    readLinear(this.cpu, address, last);
    this.watchpoints.push({ type, address, length, last, now: new Uint8Array(length) });
    if (type !== "watch") this.updateWatchPages();
    return true;
  }

  removeBreakpoint(type: BreakpointType, address: number, length: number): boolean {
    address >>>= 0;
    if (type === "sw" || type === "hw") return this.breakpoints.delete(address);
    const i = this.watchpoints.findIndex((w) =>
      w.type === type && w.address === address && w.length === length
    );
    if (i < 0) return false;
    this.watchpoints.splice(i, 1);
    if (type !== "watch") this.updateWatchPages();
    return true;
  }

  removeAllBreakpoints(): void {
    this.breakpoints.clear();
    this.watchpoints.length = 0;
    this.updateWatchPages();
  }
}
