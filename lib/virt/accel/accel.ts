/**
 * The accelerator seam: what runs the guest's CPU. "tcg" runs lib/cpu directly; "kvm" goes through
 * the simulated /dev/kvm (issue 6). The machine asks for one by name and cannot otherwise tell them
 * apart.
 */
import { ErrnoError, LibError } from "../../errors.ts";

/** The accelerator could not start (QEMU: `failed to initialize kvm: <strerror>`). */
export class AccelInitError extends ErrnoError {
  constructor(
    readonly accel: string,
    code: ConstructorParameters<typeof ErrnoError>[0],
    readonly detail?: string,
  ) {
    super(code);
  }
}

export class UnknownAccelError extends LibError {}
