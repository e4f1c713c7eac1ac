/* Temporary translation unit so the library links before the modules land. */
int sim_placeholder_build(void);
int sim_placeholder_build(void) { return 0; }
