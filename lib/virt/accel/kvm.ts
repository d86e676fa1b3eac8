/**
 * The kvm accelerator. Until the simulated /dev/kvm exists (issue 6), opening it fails the way it
 * does on a host without the kvm modules: ENOENT, with QEMU's "Could not access KVM kernel module"
 * detail line.
 */
import { AccelInitError } from "./accel.ts";

/** Opens /dev/kvm for a machine; throws AccelInitError when the modules are not loaded. */
export function openKvm(): never {
  throw new AccelInitError("kvm", "ENOENT", "Could not access KVM kernel module: No such file or directory");
}
