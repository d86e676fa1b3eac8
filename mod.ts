/**
 * qemu-kvm-ts: the public library API. Each layer is a namespace, so its names stay its own:
 * `image` (BlockDriver and formats), `cpu` (the x86 core), `devices` (the Bus and PC devices),
 * `machine` (boards and loaders), `kvm` (the simulated /dev/kvm), `modules` (the simulated
 * kernel-module layer). Errors all derive from LibError.
 */
export * from "./lib/errors.ts";
export * as image from "./lib/image/mod.ts";
export * as cpu from "./lib/cpu/mod.ts";
export * as devices from "./lib/devices/mod.ts";
export * as machine from "./lib/virt/machine/mod.ts";
export * as kvm from "./lib/virt/kvm/mod.ts";
export * as modules from "./lib/virt/modules/mod.ts";
