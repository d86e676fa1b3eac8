/** The simulated kernel-module layer behind kvm-ctl: registry, modprobe.d config, sysfs/procfs state. */
export {};
