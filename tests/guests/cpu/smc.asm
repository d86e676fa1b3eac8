; Self-modifying code: patching an immediate inside a hot loop, patching the very next
; instruction (which must take effect: the CPU sees its own stores), code written by REP MOVSB
; and then run, and data stored next to code that must not disturb it.
%include "multiboot.inc"

main:
    PRINT "smc", 10
    ; 1. a loop whose ADD immediate is rewritten each iteration
    xor ebx, ebx
    mov ecx, 10
.loop:
    mov [.imm + 2], cl
.imm:
    add ebx, 0x7f                         ; 83 C3 ib: the byte after 83 C3 is patched
    loop .loop
    mov eax, ebx
    call hex32
    call newline
    ; 2. patch the next instruction in the same basic block
    mov byte [.next + 1], 0x42
.next:
    mov al, 0x00
    movzx eax, al
    call hex32
    call newline
    ; 3. copy a routine into a buffer and call it, twice with different code
    mov esi, routine_a
    mov edi, buffer
    mov ecx, routine_a_end - routine_a
    rep movsb
    call buffer
    call hex32
    call newline
    mov esi, routine_b
    mov edi, buffer
    mov ecx, routine_b_end - routine_b
    rep movsb
    call buffer
    call hex32
    call newline
    ; 4. data right next to code in a loop
    mov ecx, 1000
    xor edx, edx
.data_loop:
    mov [counter], ecx
    add edx, [counter]
    loop .data_loop
    mov eax, edx
    call hex32
    call newline
    ret

routine_a:
    mov eax, 0xaaaa0001
    ret
routine_a_end:
routine_b:
    mov eax, 0xbbbb0002
    add eax, eax
    ret
routine_b_end:
counter: dd 0
buffer: times 32 db 0x90
