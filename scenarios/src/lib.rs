//! Browser scenarios that drive the deployed platform the way a person does.
//!
//! Empty on purpose: the scenarios (login, spawn and run a notebook, logout, hub API token)
//! arrive with the issue "Browser scenarios with fantoccini". Nothing here pretends to work yet.
