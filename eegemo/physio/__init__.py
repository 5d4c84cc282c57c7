"""Physiological signals recorded beside the EEG (ECG first): beats, heart rate, HRV."""
