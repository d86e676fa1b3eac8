; The nested I/O benchmark guest (bench/kvm_bench.ts): a hypervisor (L1) runs a guest (L2) that
; writes the POST port (0x80) L2_WRITES times. L1's VMCS asks for unconditional I/O exiting, so
; each OUT is a VM exit to L1, which checks the exit (reason 30, port 0x80, out), counts it, moves
; L2's RIP past the OUT and resumes it, as a hypervisor emulating a device would.
; On tcg that is bare VMX in the emulated CPU. Under -accel kvm with kvm_intel nested=1, L0 runs L2
; on vmcs02, reflects each OUT exit to L1, and emulates L1's VMREADs, VMWRITE and VMRESUME (each an
; exit of L1 to L0): the run's time per L2 exit is the cost of a nested I/O exit.
; Prints the number of L2 exits L1 handled, then "bench nested io: done"; any other exit is
; reported and ends the run with status 1. tests/kvm/nested_io_test.ts checks the output.
%include "multiboot.inc"
%include "vmx.inc"
%include "vmx_setup.inc"

%define L2_WRITES   20000
%define PAGE_DIR    0x00200000
%define VMXON_PAGE  0x00201000
%define VMCS_PAGE   0x00202000
%define SCRATCH     0x00203000
%define EPT_PML4    0x00204000
%define EPT_PDPT    0x00205000
%define EPT_PD      0x00206000
%define L2_STACK    0x00280000

main:
    FLAT_GDT
    mov eax, 1
    cpuid
    test ecx, 1 << 5                   ; CPUID.1:ECX.VMX
    jnz .vmx
    PRINT "bench nested io: no VMX", 10
    mov al, 1
    jmp exit
.vmx:
    IDENTITY_PAGING PAGE_DIR
    VMX_ON VMXON_PAGE, VMCS_PAGE, SCRATCH
    jbe failed
    VMW PIN_CONTROLS, 0x16
    ; unconditional I/O exiting, secondary controls: EPT
    VMW CPU_CONTROLS, 0x04006172 | (1 << 24) | (1 << 31)
    VMW SECONDARY_CONTROLS, 1 << 1
    EPT_IDENTITY EPT_PML4, EPT_PDPT, EPT_PD
    VMW EXIT_CONTROLS, 0x00036dfb
    VMW ENTRY_CONTROLS, 0x000011fb
    VMW EXCEPTION_BITMAP, 0
    HOST_AS_GUEST gdt, 0
    mov ecx, esp                       ; main's frame: the exit handler's RET leaves main
    VMW HOST_RSP, ecx
    VMW HOST_RIP, vm_exit
    FLAT_GUEST_SEGMENTS gdt, gdt_end
    GUEST_START l2_entry, L2_STACK
    vmlaunch
failed:
    PRINT "bench nested io: VMX instruction failed", 10
    mov al, 1
    jmp exit

; ---- L1's exit handler (HOST_RIP): EAX, EBX and ECX are L1's; L2 keeps its count in EDI ----
vm_exit:
    mov eax, EXIT_REASON
    vmread ebx, eax
    cmp ebx, 30                        ; I/O instruction
    jne .other
    mov eax, EXIT_QUAL
    vmread ebx, eax
    cmp ebx, 0x00800040                ; port 0x80, byte, out, immediate operand
    jne .other
    inc dword [l2_exits]
    mov eax, EXIT_INSN_LEN
    vmread ecx, eax
    mov eax, GUEST_RIP
    vmread ebx, eax
    add ebx, ecx
    vmwrite eax, ebx
    vmresume
    jmp failed
.other:
    cmp ebx, 18                        ; VMCALL: L2 is done
    jne .unexpected
    PRINT "bench nested io: l2 exits "
    mov eax, [l2_exits]
    call hex32
    call newline
    vmxoff
    PRINT "bench nested io: done", 10
    ret                                ; HOST_RSP holds main's return address
.unexpected:
    PRINT "bench nested io: unexpected exit, reason or qualification "
    mov eax, ebx
    call hex32
    call newline
    mov al, 1
    jmp exit

; ---- L2 ----
l2_entry:
    mov edi, L2_WRITES
.loop:
    mov eax, edi
    out 0x80, al                       ; an exit to L1
    dec edi
    jnz .loop
    vmcall

l2_exits: dd 0
HYPERVISOR_GDT
