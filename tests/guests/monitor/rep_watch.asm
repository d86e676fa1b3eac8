; REP STOSD and REP MOVSD over a page a debugger watches (tests/monitor/rep_watch_test.ts): the
; bulk page-run paths of the string instructions must still report every watched access.
; `watched` starts at 0x102000 and `copy` at 0x103000, fixed so the test can name them.
%include "multiboot.inc"

main:
    cld
    mov edi, watched
    mov ecx, 64
    mov eax, 0x5a5a5a5a
    rep stosd                          ; 256 bytes written into the watched page
    mov esi, watched
    mov edi, copy
    mov ecx, 64
    rep movsd                          ; 256 bytes read from it
    PRINT "done", 10
    ret

    times 0x2000 - ($ - $$) db 0
watched:
    times 0x1000 db 0
copy:
    times 0x1000 db 0
