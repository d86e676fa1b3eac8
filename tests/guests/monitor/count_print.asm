; The savevm/loadvm proof guest: prints "count N" (N in hex, from 0) on COM1, one line per step,
; forever, with a busy delay between lines. Every line differs from the ones before, so output that
; continues "exactly from the saved point" is checkable: the output before savevm followed by the
; output after loadvm must be the same unbroken sequence. `count` sits at a fixed address.
%include "multiboot.inc"

main:
    PRINT "count guest", 10
.loop:
    PRINT "count "
    mov eax, [count]
    call hex32
    call newline
    inc dword [count]
    mov ecx, 20000
.delay:
    add dword [spin], ecx
    loop .delay
    jmp .loop

    times 0x400 - ($ - $$) db 0
; at 0x100400
count: dd 0
spin:  dd 0
