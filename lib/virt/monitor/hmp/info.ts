/**
 * The human monitor's `info` subcommands, each printing what QEMU 7.2 prints for this machine:
 * status, registers (QEMU's x86_cpu_dump_state layout with the x87 lines), cpus, block, snapshots,
 * kvm, version, name, mtree (built from the Bus's page map and port table), pic and irq.
 */
import { PAGE_UNMAPPED } from "../../../devices/bus.ts";
import { simdState, XMM } from "../../../cpu/simd/state.ts";
import type { X87 } from "../../../cpu/x87.ts";
import { m80, toM80 } from "../../../cpu/fpu/formats.ts";
import { W_EMPTY, W_FCW, W_MXCSR } from "../../../cpu/fpu/state.ts";
import { dumpCpuState } from "../../machine/cpu_dump.ts";
import type { PcTarget } from "../pc_target.ts";
import type { MonitorTarget } from "../target.ts";
import type { VersionInfo } from "../version.ts";
import type { SnapshotInfo } from "../../../image/block_driver.ts";
import { SNAPSHOT_HEADER, snapshotLine } from "../../../image/snapshot_dump.ts";
import { SnapshotError } from "../../snapshot/errors.ts";

const hex = (v: number, width: number) => (v >>> 0).toString(16).padStart(width, "0");

export function statusLine(target: MonitorTarget): string {
  const s = target.runState;
  return s === "running"
    ? "VM status: running\n"
    : s === "paused"
    ? "VM status: paused\n"
    : `VM status: paused (${s})\n`;
}

/** The FPU part of QEMU's register dump: FCW..FPR7, then XMM00-07 as high and low quadword. */
function fpuLines(target: MonitorTarget): string {
  const fpu = (target.cpu.fpu as X87 | undefined)?.state;
  if (!fpu) return "";
  const w = fpu.words;
  let ftw = 0;
  for (let i = 0; i < 8; i++) if (!((w[W_EMPTY] >> i) & 1)) ftw |= 1 << i;
  let out = `FCW=${hex(w[W_FCW], 4)} FSW=${hex(fpu.fsw, 4)} [ST=${fpu.top}] FTW=${hex(ftw, 2)} ` +
    `MXCSR=${hex(w[W_MXCSR], 8)}\n`;
  for (let i = 0; i < 8; i++) {
    // QEMU prints the registers as ST(i) in stack order, numbered FPRi.
    toM80(fpu.st(i));
    out += `FPR${i}=${hex(m80[1], 8)}${hex(m80[0], 8)} ${hex(m80[2], 4)}${i & 1 ? "\n" : " "}`;
  }
  const xmm = simdState(target.cpu).u32;
  for (let i = 0; i < 8; i++) {
    const d = (k: number) => hex(xmm[(XMM >> 2) + i * 4 + k], 8);
    out += `XMM${String(i).padStart(2, "0")}=${d(3)}${d(2)} ${d(1)}${d(0)}${i & 1 ? "\n" : " "}`;
  }
  return out;
}

export function infoRegisters(target: MonitorTarget): string {
  return `\nCPU#0\n${dumpCpuState(target.cpu)}${fpuLines(target)}`;
}

export function infoCpus(threadId: number): string {
  return `* CPU #0: thread_id=${threadId}\n`;
}

export function infoBlock(target: MonitorTarget): string {
  const parts = target.blockDevices().map((d, i) => {
    const driver = d.drive.driver;
    const open = d.drive.atapi.trayOpen;
    let s = driver && !open
      ? `${d.device} (#block${100 + i * 11}): ${driver.filename} (${driver.format}${
        driver.readOnly ? ", read-only" : ""
      })\n`
      : `${d.device}: [not inserted]\n`;
    s += `    Attached to:      ${d.qdev}\n`;
    if (d.removable) {
      s += `    Removable device: ${d.drive.atapi.locked ? "locked" : "not locked"}, tray ${
        open ? "open" : "closed"
      }\n`;
    }
    if (driver && !open) s += "    Cache mode:       writeback\n";
    return s;
  });
  return parts.join("\n");
}

/** hmp_info_snapshots(): loadable snapshots with the ID shown as "--", then each disk's partial ones. */
export function infoSnapshots(target: PcTarget): string {
  let list;
  try {
    list = target.snapshots.list();
  } catch (e) {
    if (e instanceof SnapshotError) return `${e.message}\n`;
    throw e;
  }
  if (!list) return "There is no snapshot available.\n";
  const table = (rows: SnapshotInfo[]) =>
    `${SNAPSHOT_HEADER}\n` + rows.map((r) => snapshotLine(r) + "\n").join("");
  let out = "List of snapshots present on all disks:\n";
  // The ID may differ from disk to disk, so QEMU shows none.
  out += list.all.length ? table(list.all.map((r) => ({ ...r, id: "--" }))) : "None\n";
  for (const p of list.partial) {
    out += `\nList of partial (non-loadable) snapshots on '${p.device}':\n` + table(p.rows);
  }
  return out;
}

export function infoKvm(target: MonitorTarget): string {
  return `kvm support: ${target.accel === "kvm" ? "enabled" : "disabled"}\n`;
}

export function infoVersion(version: VersionInfo): string {
  return `${version.major}.${version.minor}.${version.micro}${version.package}\n`;
}

export function infoName(target: MonitorTarget): string {
  return target.name === undefined ? "" : `${target.name}\n`;
}

/** QEMU's `info pic` lines for the two 8259s (slave first, as QEMU prints them). */
export function infoPic(target: PcTarget): string {
  target.pc.kernelIrqchip?.pull();
  return [1, 0].map((n) => {
    const c = target.pc.pic.chips[n];
    return `pic${n}: irr=${hex(c.irr, 2)} imr=${hex(c.imr, 2)} isr=${hex(c.isr, 2)} hprio=${c.priorityAdd} ` +
      `irq_base=${hex(c.irqBase, 2)} rr_sel=${c.readRegSelect} elcr=${hex(c.elcr, 2)} fnm=${
        c.specialFullyNested ? 1 : 0
      }\n`;
  }).join("");
}

/** QEMU's `info irq` for the 8259 pair (the board has no IOAPIC, so no ioapic table). */
export function infoIrq(target: PcTarget): string {
  let out = "IRQ statistics for isa-i8259:\n";
  target.irqCounts.forEach((n, irq) => {
    if (n) out += `${String(irq).padStart(2)}: ${n}\n`;
  });
  return out;
}

/** Memory and I/O maps as `info mtree` trees, one region per run of like pages or ports. */
export function infoMtree(target: PcTarget): string {
  const bus = target.pc.bus;
  const range = (start: number, end: number) => `${hex(0, 8)}${hex(start, 8)}-${hex(0, 8)}${hex(end, 8)}`;
  let out = "address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n";
  const kind = (p: number) => {
    const page = bus.pageMap[p];
    if (page === PAGE_UNMAPPED) return "";
    if (page < 0) return `i/o): ${bus.mmioHandlers[-page - 2]?.constructor.name.toLowerCase() ?? "mmio"}`;
    return bus.pageReadOnly[p] ? "rom): rom" : "ram): ram";
  };
  const pages = bus.pageMap.length;
  for (let p = 0; p < pages;) {
    const k = kind(p);
    let q = p + 1;
    while (q < pages && kind(q) === k) q++;
    if (k) out += `    ${range(p * 0x1000, q * 0x1000 - 1)} (prio 0, ${k}\n`;
    p = q;
  }
  out += "\naddress-space: I/O\n  0000000000000000-000000000000ffff (prio 0, i/o): io\n";
  for (let port = 0; port < 0x10000;) {
    const dev = bus.ports[port];
    let q = port + 1;
    while (q < 0x10000 && bus.ports[q] === dev) q++;
    if (dev) {
      out += `    ${range(port, q - 1)} (prio 0, i/o): ${dev.constructor.name.toLowerCase()}\n`;
    }
    port = q;
  }
  return out + "\n";
}
