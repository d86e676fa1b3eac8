; Stack-segment faults and whole-operand checks (SDM Vol. 2, the "Protected Mode Exceptions" of PUSH,
; PUSHA, POPA, CALL, INT n and the x87 stores; Vol. 3A, 6.15 "#SS"):
; - from ring 3 with a small expand-up or expand-down SS, PUSH, PUSHAD, POPAD, a far CALL and an
;   INT n to a conforming handler (no stack switch, so the frame goes through that SS) raise #SS(0).
;   The #SS is delivered to the ring-0 handler on the TSS's SS0:ESP0 stack, with no double fault,
;   and ESP is as it was before the instruction (printed after each case, with the bytes PUSHAD
;   would have written);
; - an INT n or a call gate from ring 3 whose frame does not fit the small ring-0 stack the TSS
;   gives raises #SS(SS0's selector), with ring 3's SS:ESP unchanged;
; - x87 stores of more than 32 bits (FSTP m64/m80, FISTP m64, FBSTP, FNSTENV, FNSAVE) across the
;   limit of a data segment raise #GP(0) before writing any byte (the first dword is printed).
;
; QEMU 7.2's TCG checks no limit on these accesses, so its golden shows "ok" where the SDM faults,
; ESP moved, and the bytes written. The lines that differ because we follow the SDM:
; [differs] push beyond
; [differs] ed push limit-1
; [differs] pushad ed
; [differs] popad beyond
; [differs] call far ed
; [differs] int conforming ed
; [differs] esp
; [differs] mem
; [differs] fstp m64 limit-3
; [differs] fstp m80 limit-7
; [differs] fistp m64 limit-3
; [differs] fbstp limit-7
; [differs] fnstenv across
; [differs] fnsave across
; [differs] int gate new stack across
; [differs] call gate new stack across
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%define NEWGDT   0x280000
%define SEL_SS3  0x53                     ; expand-up data DPL3, base 0x200000, limit 0xfff, B=1
%define SEL_ED3  0x5b                     ; expand-down data DPL3, base 0x200000, limit 0xfff, B=1
%define SEL_CONF 0x60                     ; conforming code DPL0, flat
%define SEL_SM   0x68                     ; data DPL0, base 0x200000, limit 0xfff, B=1
%define SEL_GATE3 0x73                    ; call gate DPL3 to far_target in ring 0
%define STACK3   0x70000                  ; ring 3's flat stack
%define AREA     0x200f00                 ; filled with 0xaa before each case

; R3CASE "name", ss, esp, insn: in ring 3, runs insn on SS:ESP, then prints "ok" unless it
; faults, and the ESP it left
%macro R3CASE 4+
    call fill
    PRINT %1, " "
    EXPECT %%after
    mov ax, %2
    mov ss, ax
    mov esp, %3
    %4
    mov [r3_esp], esp
    mov ax, SEL_DATA3
    mov ss, ax
    mov esp, STACK3
    PRINT "ok", 10
    jmp %%show
%%after:
    mov [r3_esp], esp
    mov ax, SEL_DATA3
    mov ss, ax
    mov esp, STACK3
%%show:
    mov eax, [r3_esp]
    mov esi, m_esp
    call show
%endmacro

; XCASE "name", insn: with 1.0 in ST(0) and FS the small segment, runs insn, prints "ok" unless
; it faults, then the first dword of the area it stores to (0xaaaaaaaa: untouched)
%macro XCASE 3+
    call fill
    fninit
    fld1
    PRINT %1, " "
    EXPECT %%after
    %3
    PRINT "ok", 10
%%after:
    mov eax, [0x200000 + %2]
    mov esi, m_mem
    call show
%endmacro

main:
    call cpu_setup
    PRINT "segcheck_stack", 10
    mov esi, gdt
    mov edi, NEWGDT
    mov ecx, gdt_end - gdt
    rep movsb
    mov esi, extra
    mov ecx, extra_end - extra
    rep movsb
    lgdt [newgdt_desc]

    ; x87 stores in ring 0 through FS
    mov eax, cr0
    and eax, ~0x0c
    or eax, 0x22
    mov cr0, eax
    mov ax, SEL_SM
    mov fs, ax
    XCASE "fstp m64 limit-7", 0xff8, fstp qword [fs:0xff8]
    XCASE "fstp m64 limit-3", 0xffc, fstp qword [fs:0xffc]
    XCASE "fstp m80 limit-7", 0xff8, fstp tword [fs:0xff8]
    XCASE "fistp m64 limit-3", 0xffc, fistp qword [fs:0xffc]
    XCASE "fbstp limit-7", 0xff8, fbstp [fs:0xff8]
    XCASE "fnstenv across", 0xff0, fnstenv [fs:0xff0]
    XCASE "fnsave across", 0xfa0, fnsave [fs:0xfa0]
    XCASE "fnsave fits", 0xf94, fnsave [fs:0xf94]
    fninit

    ; ring 3: INT 0x41 comes back here; INT 0x42 goes to a conforming handler at CPL 3
    mov al, 0x41
    mov ebx, back_to_ring0
    mov dx, 0xee00
    call set_gate
    mov al, 0x42
    mov ebx, conforming_iret
    call set_gate
    mov word [idt + 0x42 * 8 + 2], SEL_CONF
    mov al, 0x43
    mov ebx, ring0_iret
    mov dx, 0xee00
    call set_gate
    ; call gate DPL3 to far_target in ring 0, no parameters
    mov eax, far_target
    mov [NEWGDT + 0x70], ax
    mov word [NEWGDT + 0x72], SEL_CODE32
    mov word [NEWGDT + 0x74], 0xec00
    shr eax, 16
    mov [NEWGDT + 0x76], ax
    mov [saved_esp], esp
    mov ax, SEL_DATA3
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    push dword SEL_DATA3
    push dword STACK3
    pushfd
    push dword SEL_CODE3
    push dword ring3
    iretd

ring3:
    R3CASE "push limit-3", SEL_SS3, 0x1000, push eax
    R3CASE "push beyond", SEL_SS3, 0x1002, push eax
    R3CASE "ed push limit+1", SEL_ED3, 0x1004, push eax
    R3CASE "ed push limit-1", SEL_ED3, 0x1002, push eax
    R3CASE "pushad ed fits", SEL_ED3, 0x1020, pushad
    R3CASE "pushad ed across", SEL_ED3, 0x1010, pushad
    mov eax, [0x20100c]
    mov esi, m_mem
    call show
    R3CASE "popad fits", SEL_SS3, 0xfe0, popad
    R3CASE "popad beyond", SEL_SS3, 0xff0, popad
    R3CASE "call far ed fits", SEL_ED3, 0x1008, call dword SEL_CODE3:far_target
    R3CASE "call far ed across", SEL_ED3, 0x1006, call dword SEL_CODE3:far_target
    R3CASE "int conforming ed fits", SEL_ED3, 0x100c, int 0x42
    R3CASE "int conforming ed across", SEL_ED3, 0x100a, int 0x42
    ; stack switches onto a small ring-0 stack (TSS SS0 = SEL_SM): the frame must fit it, else
    ; #SS(SS0) with ring 3's SS:ESP as they were; #SS goes to a conforming handler (CPL 3)
    mov word [idt + 12 * 8 + 2], SEL_CONF
    mov dword [tss + 8], SEL_SM
    mov dword [tss + 4], 0x1000
    R3CASE "int gate new stack fits", SEL_DATA3, STACK3 - 0x100, int 0x43
    mov dword [tss + 4], 0x1010
    R3CASE "int gate new stack across", SEL_DATA3, STACK3 - 0x100, int 0x43
    mov dword [tss + 4], 0x1000
    R3CASE "call gate new stack fits", SEL_DATA3, STACK3 - 0x100, call SEL_GATE3:0
    mov dword [tss + 4], 0x1004
    R3CASE "call gate new stack across", SEL_DATA3, STACK3 - 0x100, call SEL_GATE3:0
    mov dword [tss + 8], SEL_DATA32
    mov dword [tss + 4], 0x80000
    mov word [idt + 12 * 8 + 2], SEL_CODE32
    int 0x41

far_target:
    retf

ring0_iret:
    iretd

conforming_iret:
    iretd

back_to_ring0:
    mov ax, SEL_DATA32
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov esp, [saved_esp]
    ret

; fill: AREA..AREA+0x200 = 0xaa (ES flat)
fill:
    pusha
    mov edi, AREA
    mov ecx, 0x200
    mov al, 0xaa
    rep stosb
    popa
    ret

m_esp: db "esp ", 0
m_mem: db "mem ", 0
align 8
extra:
    dq 0x0040f22000000fff                 ; 0x50 small data DPL3
    dq 0x0040f62000000fff                 ; 0x58 expand-down DPL3, B=1
    dq 0x00cf9e000000ffff                 ; 0x60 conforming code DPL0
    dq 0x0040922000000fff                 ; 0x68 small data DPL0
    dq 0                                  ; 0x70 call gate (built at run time)
extra_end:
newgdt_desc: dw 0x77
    dd NEWGDT
saved_esp: dd 0
r3_esp: dd 0
