; Unmasked x87 exceptions with CR0.NE=1: the exception becomes pending (FSW.ES and
; B set) and the next waiting instruction raises #MF (vector 16). The #MF handler
; records FSW, clears the exceptions and returns to the waiting instruction, which
; then runs; "mf ..." lines print the FSW the handler saw (0000: no #MF).
; Lines marked [differs] are where QEMU 7.2 departs from the SDM (our output:
; tests/golden/fpu/fpu_unmasked.sdm.txt):
;
; [differs] zd sw              SDM: an unmasked zero divide leaves the destination and
; [differs] mf zd at fwait       TOP unchanged (so TOP differs in these status words).
; [differs] zd sw after handler  QEMU stores infinity and pops.
; [differs] zd st0
; [differs] zd st1
; [differs] mf after fld1      SDM: a pending exception is reported by the next waiting
; [differs] mf after fwait       x87 instruction (FLD1 here). QEMU only at FWAIT.
; [differs] mf ie sqrt         QEMU also sets C2 for FSQRT of a negative number.
; [differs] ie sqrt st0        SDM: unmasked IE leaves ST(0) (-1). QEMU stores the NaN.
; [differs] mf ie fist         SDM: unmasked IE stores nothing and does not pop.
; [differs] ie fist m16          QEMU stores 8000h and pops.
; [differs] oe m32             SDM: unmasked OE on FST m32 stores nothing. QEMU: infinity.
; [differs] fldcw sw           SDM: FLDCW that unmasks a set flag makes it pending.
; [differs] mf fldcw unmask      QEMU leaves ES/B clear and raises nothing.
%include "multiboot.inc"
%include "../fpu/fpu_report.inc"

; MF "label": prints the FSW the #MF handler recorded since the last MF (0000: none).
%macro MF 1
    DUMP %1, BUF + 0xfe0, 2
    mov word [BUF + 0xfe0], 0
%endmacro
; CW cw: loads a control word.
%macro CW 1
    mov word [BUF + 0xffc], %1
    fldcw [BUF + 0xffc]
%endmacro

main:
    lidt [idtr]
    mov eax, cr0
    or eax, 0x20                   ; NE: report through #MF
    mov cr0, eax
    fninit

    ; ---- zero divide, unmasked
    CW 0x037b
    fld1
    fldz
    fdivp st1, st0
    SW "zd sw"
    fwait
    MF "mf zd at fwait"
    SW "zd sw after handler"
    fst qword [BUF]
    DUMP "zd st0", BUF, 8
    fxch st1
    fst qword [BUF]
    DUMP "zd st1", BUF, 8
    fninit

    ; ---- pending exception reported by the next waiting instruction
    CW 0x037b
    fld1
    fldz
    fdiv st1, st0
    fld1
    MF "mf after fld1"
    fwait
    MF "mf after fwait"
    fninit

    ; ---- precision, unmasked: the result is stored, then #MF
    CW 0x035f
    fld1
    fdiv qword [f64_3]
    fwait
    MF "mf pe at fwait"
    fstp qword [BUF]
    DUMP "pe result", BUF, 8
    fninit

    ; ---- invalid, unmasked
    CW 0x037e
    fld1
    fchs
    fsqrt
    fwait
    MF "mf ie sqrt"
    fst qword [BUF]
    DUMP "ie sqrt st0", BUF, 8
    fninit
    CW 0x037e
    mov word [BUF], 0x1234
    fld qword [f64_big]
    fistp word [BUF]
    fwait
    MF "mf ie fist"
    DUMP "ie fist m16", BUF, 2
    fninit

    ; ---- overflow, unmasked, on a store to m32
    CW 0x0377
    mov dword [BUF], 0x12345678
    fld qword [f64_huge]
    fst dword [BUF]
    fwait
    MF "mf oe"
    DUMP "oe m32", BUF, 4
    fninit

    ; ---- no-wait instructions do not report
    CW 0x037b
    fld1
    fldz
    fdivp st1, st0
    fnstenv [BUF + 0x100]
    fnsave [BUF + 0x100]
    SW "after fnsave"
    fninit

    ; ---- FLDCW unmasking a flag that is already set
    fld1
    fldz
    fdivp st1, st0                 ; ZE set while masked
    CW 0x037b
    SW "fldcw sw"
    fwait
    MF "mf fldcw unmask"
    fninit
    ret

; The #MF handler: records FSW, clears the exceptions, returns to the
; waiting instruction (the fault's return address).
mf_handler:
    fnstsw [BUF + 0xfe0]
    fnclex
    iret

align 8
idt:
    times 16 dq 0
    dw mf_handler - $$                 ; offset 15-0 (the guest loads at 0x100000)
    dw 0x08
    dw 0x8e00
    dw 0x0010                          ; offset 31-16
idt_end:
idtr:
    dw idt_end - idt - 1
    dd idt

align 8
f64_3:     dq 3.0
f64_big:   dq 1.0e20
f64_huge:  dq 1.0e300
