//! bgp
