; The 16550A through its registers: divisor latch, FIFO enable with a trigger level, loopback
; mode and the received-data interrupt identification. Bytes sent in loopback come back through
; the FIFO; the guest prints what it read and the IIR it saw with the RX interrupt pending.
%include "multiboot.inc"

main:
    ; 115200 8N1 via the divisor latch, read back
    mov dx, COM1 + 3
    mov al, 0x80
    out dx, al
    mov dx, COM1
    mov al, 1
    out dx, al
    mov dx, COM1 + 1
    xor al, al
    out dx, al
    mov dx, COM1 + 3
    mov al, 0x03
    out dx, al
    PRINT "lcr 0x"
    in al, dx
    movzx eax, al
    call hex32
    call newline
    ; FIFO on, trigger level 1, cleared
    mov dx, COM1 + 2
    mov al, 0x07
    out dx, al
    PRINT "iir with fifo 0x"
    in al, dx
    movzx eax, al
    call hex32
    call newline
    ; loopback, and the RX interrupt enabled (the CPU keeps interrupts off)
    mov dx, COM1 + 4
    mov al, 0x18
    out dx, al
    mov dx, COM1 + 1
    mov al, 0x01
    out dx, al
    mov esi, message
    mov edi, buffer
.send:
    lodsb
    test al, al
    jz .sent
    mov dx, COM1
    out dx, al
    mov dx, COM1 + 5
.poll:
    in al, dx
    test al, 1
    jz .poll
    ; the received-data interrupt is pending in IIR (interrupts are off at the CPU)
    mov dx, COM1 + 2
    in al, dx
    movzx eax, al
    mov [last_iir], eax
    mov dx, COM1
    in al, dx
    stosb
    jmp .send
.sent:
    ; loopback off, interrupts off: back to the console
    mov dx, COM1 + 1
    xor al, al
    out dx, al
    mov dx, COM1 + 4
    mov al, 0x03
    out dx, al
    PRINT "looped back: "
    mov esi, buffer
    call puts
    call newline
    PRINT "last iir 0x"
    mov eax, [last_iir]
    call hex32
    call newline
    ret

message: db "loop!", 0
last_iir: dd 0
buffer: times 16 db 0
