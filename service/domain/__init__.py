"""Pure types shared by every layer. No I/O, no framework imports beyond the standard library."""
