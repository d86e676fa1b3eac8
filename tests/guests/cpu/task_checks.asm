; The checks at the end of a hardware task switch (SDM Vol. 3A, 7.3 and Table 7-1): DR7's local
; breakpoint enables (L0-L3, LE) are cleared, and a new EIP beyond the new CS limit raises #GP(0)
; in the new task's context (its CS, its EIP in the frame), after the switch has committed.
;
; QEMU 7.2 raises that #GP before clearing DR7 and reports an EIP past the new one, and clears
; L0-L3 but not LE. The lines that differ because we follow the SDM:
; [differs] exc 0d
; [differs] dr7 now
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%define SEL_T2    0x50
%define SEL_LIMCS 0x58                    ; code32, base 0, limit 0x1fffff
%define NEWGDT    0x280000
%define FAR_EIP   0x300000                ; beyond SEL_LIMCS's limit

main:
    call cpu_setup
    PRINT "task_checks", 10
    mov esi, gdt
    mov edi, NEWGDT
    mov ecx, gdt_end - gdt
    rep movsb
    ; TSS descriptor for task 2, and the limited code segment
    mov eax, tss2
    mov word [NEWGDT + SEL_T2], 0x67
    mov [NEWGDT + SEL_T2 + 2], ax
    shr eax, 16
    mov [NEWGDT + SEL_T2 + 4], al
    mov byte [NEWGDT + SEL_T2 + 5], 0x89
    mov byte [NEWGDT + SEL_T2 + 6], 0
    mov [NEWGDT + SEL_T2 + 7], ah
    mov dword [NEWGDT + SEL_LIMCS], 0x000001ff
    mov dword [NEWGDT + SEL_LIMCS + 4], 0x00c09a00
    lgdt [newgdt_desc]
    ; task 2 starts beyond its CS limit
    mov dword [tss2 + 0x20], FAR_EIP
    mov dword [tss2 + 0x24], 2
    mov dword [tss2 + 0x38], 0x7e000
    mov dword [tss2 + 0x4c], SEL_LIMCS
    mov dword [tss2 + 0x48], SEL_DATA32
    mov dword [tss2 + 0x50], SEL_DATA32
    mov dword [tss2 + 0x54], SEL_DATA32
    mov dword [tss2 + 0x58], SEL_DATA32
    mov dword [tss2 + 0x5c], SEL_DATA32
    ; all breakpoint enables on; the addresses (DR0-DR3 = 0, execute) are never reached
    xor eax, eax
    mov dr0, eax
    mov dr1, eax
    mov dr2, eax
    mov dr3, eax
    mov eax, 0x3ff
    mov dr7, eax
    mov eax, dr7
    mov esi, m_dr7a
    call show
    EXPECT in_task2
    jmp SEL_T2:0
in_task2:
    PRINT "in task 2", 10
    call show_tr
    mov ax, cs
    movzx eax, ax
    mov esi, m_cs
    call show
    mov eax, dr7
    mov esi, m_dr7b
    call show
    mov dword [tss + 0x20], back_in_task1
    jmp SEL_TSS:0
back_in_task1:
    PRINT "task 1 again", 10
    call show_tr
    mov eax, dr7
    mov esi, m_dr7b
    call show
    xor eax, eax
    mov dr7, eax
    clts
    ret

%include "show_tr.inc"

m_dr7a: db "dr7 before: ", 0
m_dr7b: db "dr7 now: ", 0
m_tr: db "tr: ", 0
m_cs: db "cs: ", 0
newgdt_desc: dw 0x5f
    dd NEWGDT

section .bss
align 16
tss2: resb 0x68
