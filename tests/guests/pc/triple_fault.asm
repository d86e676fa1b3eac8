; qemu: -no-reboot
; A triple fault: with an empty IDT, int3 cannot be delivered, nor the #GP, nor the #DF. The
; machine resets, and -no-reboot turns that reset into an exit with status 0.
%include "multiboot.inc"

main:
    PRINT "about to triple-fault", 10
    lidt [empty_idt]
    int3
    PRINT "still running: wrong", 10
    ret

empty_idt:
    dw 0
    dd 0
