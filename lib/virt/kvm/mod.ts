/** The simulated /dev/kvm: VMs, vCPUs, memory slots, KVM_RUN and its exits. */
export {};
