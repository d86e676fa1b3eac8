/**
 * Errors of whole-VM snapshots. `SnapshotError` carries QEMU's own wording (the monitors print it
 * after "Error: " or put it in a QMP error or job); `VmStateError` says why a saved state cannot be
 * loaded into this machine (bad stream, other version, other board), and becomes QEMU's
 * "Error -22 while loading VM state" with the reason added.
 */
import { LibError } from "../../errors.ts";

export class SnapshotError extends LibError {}

export class VmStateError extends LibError {}
