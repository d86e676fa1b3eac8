/**
 * savevm, loadvm, delvm and `info snapshots` over the machine's disks, as QEMU's migration/
 * savevm.c and block/snapshot.c do them: every inserted writable disk takes part and must support
 * internal snapshots (qcow2); the first of them holds the vm-state (stream.ts, written through
 * lib/image/qcow2/vmstate.ts); the others get a disk-only snapshot of the same name. Errors carry
 * QEMU 7.2's texts. Run state follows QEMU too: savevm stops a running VM for the save and resumes
 * it; loadvm stops it first and resumes it only when the load succeeds.
 *
 * loadvm checks the whole saved state (version, board, every RAM record) through the snapshot's
 * own tables before it reverts a disk or touches the VM, so a refused state changes nothing.
 */
import type { Cpu } from "../../cpu/cpu.ts";
import type { BlockDriver, SnapshotInfo } from "../../image/block_driver.ts";
import { Qcow2Driver } from "../../image/qcow2/driver.ts";
import {
  createVmSnapshot,
  deleteSnapshotByName,
  discardVmState,
  readSnapshotVmState,
  readVmState as readArea,
  snapshotByName,
  writeVmState as writeArea,
} from "../../image/qcow2/vmstate.ts";
import { LibError } from "../../errors.ts";
import type { Pc } from "../machine/pc.ts";
import { SnapshotError, VmStateError } from "./errors.ts";
import { applyMachineState, captureMachineState, checkMachineState, ramBlocks } from "./machine_state.ts";
import { readVmState, writeVmState } from "./stream.ts";

/** A disk as the snapshot code sees it: QEMU's device name and node name, and its driver. */
export interface SnapshotDisk {
  device: string;
  nodeName: string;
  driver: BlockDriver;
}

/** What savevm/loadvm need from the running machine (PcTarget provides it). */
export interface SnapshotHost {
  readonly pc: Pc;
  readonly cpu: Cpu;
  readonly running: boolean;
  /** Inserted disks, in QEMU's order (ide0-hd0 first). */
  disks(): SnapshotDisk[];
  /** vm_stop(state): stops a running VM (STOP event) into the given run state. */
  pauseFor(state: "save-vm" | "restore-vm"): void;
  /** vm_start(): RESUME. */
  resume(): void;
}

/** QMP's optional selection of disks (snapshot-save/-load/-delete): node names. */
export interface DiskSelection {
  vmstate?: string;
  devices?: string[];
}

const two = (n: number) => String(n).padStart(2, "0");

/** savevm's name for an untagged snapshot: vm-%Y%m%d%H%M%S in local time. */
export function autoSnapshotName(now: Date): string {
  return `vm-${now.getFullYear()}${two(now.getMonth() + 1)}${two(now.getDate())}` +
    `${two(now.getHours())}${two(now.getMinutes())}${two(now.getSeconds())}`;
}

export class VmSnapshots {
  constructor(private readonly host: SnapshotHost) {}

  /** The disks that take part (bdrv_all_snapshots_includes_bs): writable ones, or the selection. */
  private included(sel: DiskSelection): SnapshotDisk[] {
    const all = this.host.disks();
    if (sel.devices === undefined) return all.filter((d) => !d.driver.readOnly);
    if (!sel.devices.length) throw new SnapshotError("At least one device is required for snapshot");
    return sel.devices.map((name) => {
      const d = all.find((x) => x.nodeName === name);
      if (!d) throw new SnapshotError(`No block device node '${name}'`);
      return d;
    });
  }

  /** bdrv_all_can_snapshot. */
  private checkCanSnapshot(disks: SnapshotDisk[]): Qcow2Driver[] {
    return disks.map((d) => {
      if (!(d.driver instanceof Qcow2Driver) || d.driver.data !== d.driver.file) {
        throw new SnapshotError(`Device '${d.device}' is writable but does not support snapshots`);
      }
      return d.driver;
    });
  }

  /** bdrv_all_find_vmstate_bs. */
  private vmStateDisk(disks: SnapshotDisk[], sel: DiskSelection): SnapshotDisk {
    if (sel.vmstate !== undefined) {
      const d = this.host.disks().find((x) => x.nodeName === sel.vmstate);
      if (!d) throw new SnapshotError(`vmstate block device '${sel.vmstate}' does not exist`);
      if (!disks.some((x) => x.nodeName === d.nodeName)) {
        throw new SnapshotError(`vmstate block device '${sel.vmstate}' does not exist in device list`);
      }
      if (!(d.driver instanceof Qcow2Driver)) {
        throw new SnapshotError(`vmstate block device '${sel.vmstate}' does not support snapshots`);
      }
      return d;
    }
    const d = disks.find((x) => x.driver instanceof Qcow2Driver);
    if (!d) throw new SnapshotError("no block device can store vmstate for snapshot");
    return d;
  }

  /** save_snapshot(). `overwrite` (HMP) replaces a snapshot of the same name; QMP refuses it. */
  save(tag: string | undefined, options: DiskSelection & { overwrite: boolean; now?: Date }): string {
    const disks = this.included(options);
    const drivers = this.checkCanSnapshot(disks);
    const now = options.now ?? new Date();
    const name = tag ?? autoSnapshotName(now);
    if (tag !== undefined) {
      if (options.overwrite) this.deleteFrom(disks, drivers, tag);
      else if (drivers.some((d) => snapshotByName(d, tag))) {
        throw new SnapshotError(`Snapshot '${tag}' already exists in one or more devices`);
      }
    }
    const vmDisk = this.vmStateDisk(disks, options);
    const vmDriver = vmDisk.driver as Qcow2Driver;
    const wasRunning = this.host.running;
    this.host.pauseFor("save-vm");
    try {
      const { pc, cpu } = this.host;
      // A deadline already passed but not yet fired (the run loop fires them between slices) would
      // be lost: a device re-arms only deadlines still ahead when it loads. Fire them into the state.
      pc.clock.runDue();
      const vmClockNs = Math.max(0, Math.round(pc.clock.nowNs()));
      let size: number;
      try {
        size = writeVmState(
          captureMachineState(pc, cpu),
          ramBlocks(pc),
          (pos, data) => writeArea(vmDriver, pos, data),
        );
      } catch (e) {
        discardVmState(vmDriver, Number.MAX_SAFE_INTEGER);
        throw new SnapshotError(`Error while writing VM state: ${(e as Error).message}`);
      }
      const ms = now.getTime();
      const fields = { vmClockNs, dateSec: Math.floor(ms / 1000), dateNsec: (ms % 1000) * 1e6 };
      try {
        for (const d of drivers) {
          createVmSnapshot(d, name, { ...fields, vmStateSize: d === vmDriver ? size : 0 });
        }
      } catch (e) {
        // bdrv_all_delete_snapshot on failure: no disk keeps a partial set.
        for (const d of drivers) if (snapshotByName(d, name)) deleteSnapshotByName(d, name);
        throw e instanceof LibError ? new SnapshotError(e.message) : e;
      }
    } finally {
      if (wasRunning) this.host.resume();
    }
    return name;
  }

  /**
   * load_snapshot(). The VM is stopped first (as hmp_loadvm does) and stays stopped when the load
   * fails; it resumes after a successful load if it was running.
   */
  load(tag: string, options: DiskSelection = {}): void {
    const wasRunning = this.host.running;
    this.host.pauseFor("restore-vm");
    this.loadStopped(tag, options);
    if (wasRunning) this.host.resume();
  }

  private loadStopped(tag: string, options: DiskSelection): void {
    const disks = this.included(options);
    const drivers = this.checkCanSnapshot(disks);
    // With no disk at all QEMU goes on to the vm-state check, which then fails.
    if (drivers.some((d) => !snapshotByName(d, tag))) {
      throw new SnapshotError(`Snapshot '${tag}' does not exist in one or more devices`);
    }
    const vmDisk = this.vmStateDisk(disks, options);
    const vmDriver = vmDisk.driver as Qcow2Driver;
    const sn = snapshotByName(vmDriver, tag);
    if (!sn) throw new SnapshotError(`Snapshot '${tag}' does not exist in one or more devices`);
    if (sn.vmStateSize === 0) {
      throw new SnapshotError("This is a disk-only snapshot. Revert to it  offline using qemu-img");
    }
    const { pc, cpu } = this.host;
    // Everything is checked before the first change: stream, version, board, RAM records.
    let state;
    try {
      state = readVmState((pos, into) => readSnapshotVmState(vmDriver, sn, pos, into), sn.vmStateSize);
      checkMachineState(pc, cpu, state);
    } catch (e) {
      if (e instanceof VmStateError) {
        throw new SnapshotError(`Error -22 while loading VM state: ${e.message}`);
      }
      throw e;
    }
    // The machine first (it rolls itself back if a device refuses), then the disks.
    const before = captureMachineState(pc, cpu);
    try {
      applyMachineState(pc, cpu, state, before);
    } catch (e) {
      throw new SnapshotError(`Error -22 while loading VM state: ${(e as Error).message}`);
    }
    try {
      for (const d of drivers) d.applySnapshot(snapshotByName(d, tag)!.id);
    } catch (e) {
      applyMachineState(pc, cpu, before, before);
      throw e instanceof LibError ? new SnapshotError(e.message) : e;
    }
    readVmState((pos, into) => readArea(vmDriver, pos, into), sn.vmStateSize, ramBlocks(pc));
    // RAM changed under the CPU's decoded-code cache and TLB: restoring the CPU again drops both.
    cpu.restore(state.cpu);
    pc.kick();
  }

  /** bdrv_all_delete_snapshot(): a name no disk has is not an error. */
  delete(tag: string, options: DiskSelection = {}): void {
    const disks = this.included(options);
    const drivers = this.checkCanSnapshot(disks);
    this.deleteFrom(disks, drivers, tag);
  }

  private deleteFrom(disks: SnapshotDisk[], drivers: Qcow2Driver[], tag: string): void {
    drivers.forEach((d, i) => {
      if (!snapshotByName(d, tag)) return;
      try {
        deleteSnapshotByName(d, tag);
      } catch (e) {
        throw new SnapshotError(
          `Could not delete snapshot '${tag}' on '${disks[i].device}': ${(e as Error).message}`,
        );
      }
    });
  }

  /**
   * hmp_info_snapshots()'s data: the snapshots of the vm-state disk present on every disk, then per
   * disk the ones that are not ("partial"). Throws QEMU's message when no disk can hold a vm-state.
   */
  list(): { all: SnapshotInfo[]; partial: { device: string; rows: SnapshotInfo[] }[] } | undefined {
    const disks = this.included({});
    const vmDisk = this.vmStateDisk(disks, {});
    const rows = (d: BlockDriver) => d.info().snapshots;
    const own = rows(vmDisk.driver);
    if (!own.length) return undefined;
    const everywhere = (name: string) => disks.every((d) => rows(d.driver).some((s) => s.name === name));
    const all = own.filter((s) => everywhere(s.name));
    const partial = disks.map((d) => ({
      device: d.device,
      rows: rows(d.driver).filter((s) => !all.some((a) => a.name === s.name)),
    })).filter((p) => p.rows.length);
    return { all, partial };
  }
}
