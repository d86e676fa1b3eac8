/** KVM_CHECK_EXTENSION answered from kvm-ctl's capability table for the modules loaded now. */
import { CAPABILITIES, type DevKvm, ModuleSystem } from "../modules/mod.ts";

export type EnvLookup = (name: string) => string | undefined;

/** The capability's value (0 for numbers KVM does not offer, as Linux answers unknown ones). */
export function capabilityValue(handle: DevKvm, cap: number, env?: EnvLookup): number {
  const c = CAPABILITIES.find((x) => x.nr === cap);
  if (!c) return 0;
  return c.value(new ModuleSystem(handle.root, env).snapshot(), handle.vendor);
}
