"""Physiological signals recorded beside the EEG (ECG, PPG): beats, heart rate, HRV."""
