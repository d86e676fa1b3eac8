/**
 * The simulated kernel-module layer behind kvm-ctl: the module table, modprobe.d configuration,
 * the state root with its procfs/sysfs/debugfs views, and the /dev/kvm handle for
 * qemu-system -accel kvm.
 */
export { DevKvm, type DevKvmOptions, type KvmStatsUpdate } from "./dev_kvm.ts";
export { LiveParams } from "./live_params.ts";
export { CAPABILITIES, capabilities, KVM_API_VERSION } from "./caps.ts";
export { ALL_STATS, type StatName, VCPU_STATS, VM_STATS, VMX_EXIT_REASONS } from "./stats.ts";
export { findModule, MODULES, type ModuleSpec, type ParamSpec } from "./table.ts";
export { DEFAULT_RELEASE, type HostConfig, type HostCpu } from "./host.ts";
export { HostConfigError, StateCorruptError } from "./errors.ts";
export { Kernel } from "./kernel.ts";
export { ModuleSystem } from "./system.ts";
export { resolveRoot } from "./state.ts";
