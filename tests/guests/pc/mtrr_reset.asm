; qemu: -cpu pentium3
; MTRRs and PAT across a system reset: the first boot writes IA32_MTRR_DEF_TYPE, a fixed-range
; MTRR, a variable pair and PAT, prints them and resets through the i8042; RAM survives, so a
; marker tells the second boot, which prints them again at their reset values (MTRRs 0, PAT
; 0007040600070406). Under -enable-kvm QEMU puts them back into KVM on reset (kvm_put_msrs at
; KVM_PUT_RESET_STATE, for a CPU whose CPUID has MTRR, as pentium3's does): both runs print the same.
%include "multiboot.inc"

%define MARKER 0x300000

main:
    cmp dword [MARKER], 0x5254544d      ; "MTTR"
    je .second
    mov dword [MARKER], 0x5254544d
    mov ecx, 0x2ff                      ; IA32_MTRR_DEF_TYPE: E, FE, WB
    mov eax, 0xc06
    xor edx, edx
    wrmsr
    mov ecx, 0x250                      ; IA32_MTRR_FIX64K_00000: WB
    mov eax, 0x06060606
    mov edx, eax
    wrmsr
    mov ecx, 0x200                      ; IA32_MTRR_PHYSBASE0: 0x08000000, WC
    mov eax, 0x08000001
    xor edx, edx
    wrmsr
    mov ecx, 0x201                      ; IA32_MTRR_PHYSMASK0: 128 MiB, valid
    mov eax, 0xf8000800
    mov edx, 0xf
    wrmsr
    mov ecx, 0x277                      ; IA32_PAT: UC everywhere
    xor eax, eax
    xor edx, edx
    wrmsr
    PRINT "first boot:", 10
    call show_msrs
    PRINT "resetting through the i8042", 10
.wait_ibf:
    in al, 0x64
    test al, 2
    jnz .wait_ibf
    mov al, 0xfe
    out 0x64, al
.hang:
    hlt
    jmp .hang
.second:
    mov dword [MARKER], 0
    PRINT "second boot:", 10
    call show_msrs
    ret

; show_msrs: each MSR of the table as "index: edx eax"
show_msrs:
    mov esi, msrs
.next:
    mov ecx, [esi]
    test ecx, ecx
    jz .done
    mov eax, ecx
    call hex32
    PRINT ": "
    rdmsr
    push eax
    mov eax, edx
    call hex32
    PRINT " "
    pop eax
    call hex32
    PRINT 10
    add esi, 4
    jmp .next
.done:
    ret

msrs: dd 0x2ff, 0x250, 0x200, 0x201, 0x277, 0
