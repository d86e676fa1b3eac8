; golden: none
; (QEMU 7.2 TCG aborts on this path: "tcg_handle_interrupt: assertion failed: (qemu_mutex_iothread_locked())",
; so machine_test.ts checks our output against the expected values instead of a golden.)
; The x87 on the PC: arithmetic, and the PC/AT error path. With CR0.NE clear, an unmasked x87
; exception asserts FERR#, which the board wires to IRQ13 (slave PIC input 5); the handler clears
; it by writing port 0xF0 and clears the exception with FNCLEX.
%include "multiboot.inc"
%include "pic.inc"
%include "idt.inc"

%define IDT 0x80000

main:
    finit
    fld1
    fld1
    faddp
    fistp dword [result]
    PRINT "1+1 on the x87: 0x"
    mov eax, [result]
    call hex32
    call newline
    ; IDT with IRQ13 (vector 0x2d after remapping) and a catch-all
    IDT_FILL IDT, spurious
    GATE IDT, 0x2d, irq13
    GATE IDT, 0x10, mf_fault
    lidt [idtr]
    PIC_INIT
    mov al, 0xfb          ; cascade only on the master
    out 0x21, al
    mov al, 0xdf          ; IRQ13 on the slave
    out 0xa1, al
    mov eax, cr0
    PRINT "cr0.ne: 0x"
    shr eax, 5
    and eax, 1
    call hex32
    call newline
    ; unmask zero-divide and divide 1 by 0
    fnstcw [cw]
    and word [cw], ~0x0004
    fldcw [cw]
    sti
    fld1
    fldz
    fdivp
    fwait
    nop
    nop
    cli
    PRINT "irq13 count: 0x"
    mov eax, [irq13_count]
    call hex32
    PRINT " #MF count: 0x"
    mov eax, [mf_count]
    call hex32
    call newline
    PRINT "status word seen: 0x"
    movzx eax, word [sw]
    and eax, 0x3f
    call hex32
    call newline
    ret

SET_GATE_ROUTINE

irq13:
    push eax
    inc dword [irq13_count]
    fnstsw [sw]
    fnclex
    xor al, al
    out 0xf0, al
    mov al, 0x20
    out 0xa0, al
    out 0x20, al
    pop eax
    iret

mf_fault:
    inc dword [mf_count]
    fnclex
    iret

spurious:
    iret

result: dd 0
cw: dw 0
sw: dw 0
irq13_count: dd 0
mf_count: dd 0
idtr:
    dw 256 * 8 - 1
    dd IDT
