"""IoT cargo monitoring: devices, events, transit corridors, gates, vessels (AIS). Public face: ``service``."""
