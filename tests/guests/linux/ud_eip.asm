; Finding 6 of the Linux boot: #UD for an encoding the decoder rejects must report the EIP of the
; rejected instruction, so that a handler (the kernel's #UD handler, its exception fixups) sees the
; right address and IRET does not re-run an earlier instruction. Ours raises it while building the
; block, with EIP still at the previously executed instruction. Each case follows an ordinary
; instruction in the same block; the handler prints the EIP it was given.
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

main:
    call cpu_setup
    PRINT "0f 04 at "
    mov eax, .ud1
    call hex32
    call newline
    EXPECT .r1
    inc ecx
.ud1:
    db 0x0f, 0x04
.r1:
    PRINT "0f ff at "
    mov eax, .ud2
    call hex32
    call newline
    EXPECT .r2
    inc ecx
.ud2:
    db 0x0f, 0xff
.r2:
    PRINT "lea reg,reg at "
    mov eax, .ud3
    call hex32
    call newline
    EXPECT .r3
    inc ecx
.ud3:
    db 0x8d, 0xc0
.r3:
    ret
