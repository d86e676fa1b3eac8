; The monitor tests' guest (QMP, HMP, gdb stub): counts forever in `counter`, prints "tick" on COM1
; every 2^20 counts, and exits when the host (gdb) writes a non-zero value into `stop_flag`.
; `step_here` and `counter` sit at fixed addresses so gdb can break and watch without symbols.
%include "multiboot.inc"

main:
    PRINT "counter guest", 10
.loop:
    call step_here
    cmp dword [stop_flag], 0
    jne .done
    test dword [counter], 0xfffff
    jnz .loop
    PRINT "tick", 10
    jmp .loop
.done:
    PRINT "stopped", 10
    ret

    times 0x200 - ($ - $$) db 0x90
; at 0x100200
step_here:
    inc dword [counter]
    nop
    ret

    times 0x400 - ($ - $$) db 0
; at 0x100400
counter:   dd 0
stop_flag: dd 0
