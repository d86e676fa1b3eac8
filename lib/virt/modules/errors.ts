/** Errors of the simulated module layer that are not kernel errnos: bad state or host settings. */
import { LibError } from "../../errors.ts";

/** A file of the state directory cannot be understood; says which and how to start over. */
export class StateCorruptError extends LibError {
  constructor(readonly file: string, readonly detail: string, readonly root: string) {
    super(
      `state file ${file} is corrupted (${detail}); run 'kvm-ctl --root ${root} reset' ` +
        `or remove ${root} to start from a fresh state`,
    );
  }
}

/** The host settings (host.conf or KVM_CTL_* variables) hold a value we do not know. */
export class HostConfigError extends LibError {
  constructor(readonly source: string, readonly detail: string) {
    super(`${source}: ${detail}`);
  }
}
