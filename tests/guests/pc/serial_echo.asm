; golden: none
; An interactive guest for the host-side tests: says "ready" on COM1 and on the debug console
; (port 0xE9, where -debugcon puts it), then echoes every byte it receives on COM1 until 'q'.
; Without input it waits forever, so it has no golden file.
%include "multiboot.inc"

main:
    PRINT "ready", 10
    mov esi, debug_text
    mov dx, 0xe9
.debug:
    lodsb
    test al, al
    jz .echo
    out dx, al
    jmp .debug
.echo:
    mov dx, COM1 + 5
.poll:
    in al, dx
    test al, 1
    jnz .byte
    pause
    jmp .poll
.byte:
    mov dx, COM1
    in al, dx
    cmp al, 'q'
    je .done
    call putc
    jmp .echo
.done:
    PRINT 10, "bye", 10
    ret

debug_text: db "debugcon ready", 10, 0
