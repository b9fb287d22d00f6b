//! A global allocator that keeps a hostile length prefix from aborting the process.
//!
//! The `kafka-protocol` crate decodes an array by calling `Vec::with_capacity(n)` with the
//! element count read from the wire *before* checking that the bytes for it exist. A 12-byte
//! Produce body claiming 2^31 topics asks for ~150 GB; Linux refuses, and Rust aborts the
//! whole broker on a failed allocation (seen with kafka-protocol 0.18). Checking every array
//! of every request version ourselves would mean re-implementing the decoders.
//!
//! Instead, allocations of [`HUGE`] bytes or more get their own anonymous mapping with
//! `MAP_NORESERVE`: the kernel grants the address range without committing memory, the
//! decoder fails on the first missing element, and the mapping is unmapped untouched. No
//! legitimate allocation in Rafka is that large (requests are capped by
//! `socket.request.max.bytes`, 100 MiB by default), so every other allocation goes to the
//! system allocator unchanged.
//!
//! Install it in a binary with `#[global_allocator] static A: GuardedAlloc = GuardedAlloc;`
//! (the `rafka` binary, the fuzz targets and the tests that feed hostile bytes do).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations at least this large are served by `mmap(MAP_NORESERVE)`.
pub const HUGE: usize = 1 << 30;
const PAGE: usize = 4096;

/// The system allocator, except for [`HUGE`] allocations (see the module docs).
pub struct GuardedAlloc;

fn is_huge(layout: Layout) -> bool {
    layout.size() >= HUGE && layout.align() <= PAGE
}

// SAFETY: every method either forwards to `System` with the same arguments, or (for huge
// layouts only, decided by the layout alone so alloc and dealloc always agree) maps and
// unmaps a private anonymous region of exactly `layout.size()` bytes, page-aligned, which
// satisfies any alignment up to a page.
unsafe impl GlobalAlloc for GuardedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_huge(layout) {
            map(layout.size())
        } else {
            System.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_huge(layout) {
            map(layout.size()) // anonymous mappings are zero-filled
        } else {
            System.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_huge(layout) {
            libc::munmap(ptr.cast(), layout.size());
        } else {
            System.dealloc(ptr, layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        if !is_huge(layout) && !is_huge(new_layout) {
            return System.realloc(ptr, layout, new_size);
        }
        let new = self.alloc(new_layout);
        if !new.is_null() {
            std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        new
    }
}

unsafe fn map(size: usize) -> *mut u8 {
    let p = libc::mmap(
        std::ptr::null_mut(),
        size,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
        -1,
        0,
    );
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}
