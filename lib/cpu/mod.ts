/** The x86 CPU core: state, decoder, interpreter, MMU, FPU, VMX, disassembler. */
export {};
